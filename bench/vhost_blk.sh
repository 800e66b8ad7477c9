#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# vhost-user-blk throughput and latency: spur (one reactor, core 0, null bdev
# that leaves read buffers untouched) next to qemu-storage-daemon (null-co
# with read-zeroes=off, pinned to core 0, with and without an iothread),
# both driven by spur_vhost_perf pinned to core 1: 4 KiB random reads at
# queue depth 1 and 32, with 1 and 2 queues.
# usage: bench/vhost_blk.sh [build-dir]     (default build)
# env: T (seconds per run, default 10), WORKLOADS (default randread),
#      PERF_ARGS (extra spur_vhost_perf options), POLL_MODE (spur, default adaptive)
set -eu
BUILD=${1:-build}
T=${T:-10}
WORKLOADS=${WORKLOADS:-randread}
PERF_ARGS=${PERF_ARGS:-}
POLL_MODE=${POLL_MODE:-adaptive}
SIZE=$((1 << 30))
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

run_perf() { # label socket
	for w in $WORKLOADS; do
		for q in 1 2; do
			for d in 1 32; do
				# shellcheck disable=SC2086 # PERF_ARGS is a list of options
				line=$("$BUILD/bin/spur_vhost_perf" -s "$2" --core 1 -t "$T" -w "$w" \
					-n $q -q $d $PERF_ARGS | grep '^IOPS')
				printf '%-34s %-9s queues %d depth %2d  %s\n' "$1" "$w" $q $d "$line"
			done
		done
	done
}

machine_header

# spur: one core, null bdev without zeroing reads.
spur_start -m '[0]' --poll-mode "$POLL_MODE"
rpc bdev_null_create \
	-j "{\"name\":\"N0\",\"num_blocks\":$((SIZE / 512)),\"block_size\":512,\"zero_reads\":false}"
rpc vhost_create_blk_controller --ctrlr vhost.0 --dev-name N0
run_perf "spur ($POLL_MODE, 1 core)" "$tmp/vhost.0"
daemon_stop

if command -v qemu-storage-daemon >/dev/null 2>&1; then
	for mode in main iothread; do
		extra=""
		obj=""
		if [ $mode = iothread ]; then
			obj="--object iothread,id=io0"
			extra=",iothread=io0"
		fi
		# shellcheck disable=SC2086
		taskset -c 0 qemu-storage-daemon $obj \
			--blockdev driver=null-co,node-name=n0,size=$SIZE,read-zeroes=off \
			--export type=vhost-user-blk,id=e0,node-name=n0,addr.type=unix,addr.path="$tmp/qsd.sock",num-queues=2,writable=on$extra \
			>"$tmp/qsd.log" 2>&1 &
		pid=$!
		wait_for "$tmp/qsd.sock"
		run_perf "qemu-storage-daemon ($mode)" "$tmp/qsd.sock"
		daemon_stop
		rm -f "$tmp/qsd.sock"
	done
fi
