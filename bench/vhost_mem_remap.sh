#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Does (re)mapping a large guest's memory stall the other controllers of the
# same core? spur runs one reactor (core 0) with two vhost-user-blk
# controllers: vhost.0 for the victim (null bdev, reads untouched) and
# vhost.1 for the disruptor (null bdev that zeroes reads, so spur writes
# every page the disruptor reads into). spur_vhost_memstall (victim thread
# and disruptor on core 1) measures the victim's completion gaps and latency
# in a baseline window, while the disruptor remaps / unplugs / plugs /
# REM+ADD_MEM_REGs / reconnects its guest, and after it left.
#
# Cases (each in a fresh spur):
#   1 GiB guest,   8 regions, 512 MiB written per round  (small guest, for comparison)
#   128 GiB guest, 8 regions, 512 MiB written per round  (same page tables, 128x the size)
#   128 GiB guest, 8 regions, TOUCH written per round    (default 4 GiB)
#   128 GiB guest, 1 region,  TOUCH written per round
# usage: bench/vhost_mem_remap.sh [build-dir]     (default build)
# env: ITER (iterations, default 2), DEPTH (victim queue depth, default 32),
#      TOUCH (default 4g), SETTLE_MS (default 500), BASELINE_MS (default 3000),
#      SPUR_BUILD (build dir of the spur binary, default build-dir: to compare
#      two versions of spur with the same tool), CASES (default "1 2 3 4")
set -eu
BUILD=${1:-build}
ITER=${ITER:-2}
DEPTH=${DEPTH:-32}
TOUCH=${TOUCH:-4g}
SETTLE_MS=${SETTLE_MS:-500}
BASELINE_MS=${BASELINE_MS:-3000}
CASES=${CASES:-"1 2 3 4"}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

run_case() { # label guest-size regions touch
	rm -f "$tmp"/vhost.*
	spur_start -m '[0]'
	rpc bdev_null_create -j '{"name":"V","num_blocks":2097152,"block_size":512,"zero_reads":false}'
	rpc bdev_null_create -j '{"name":"D","num_blocks":2097152,"block_size":512,"zero_reads":true}'
	rpc vhost_create_blk_controller --ctrlr vhost.0 --dev-name V
	rpc vhost_create_blk_controller --ctrlr vhost.1 --dev-name D
	echo
	echo "## $1 (load before: $(cut -d' ' -f1-3 /proc/loadavg))"
	"$BUILD/bin/spur_vhost_memstall" --victim "$tmp/vhost.0" --big "$tmp/vhost.1" \
		--guest-size "$2" --regions "$3" --touch "$4" -q "$DEPTH" -i "$ITER" \
		--settle-ms "$SETTLE_MS" --baseline-ms "$BASELINE_MS" \
		--victim-core 1 --big-core 1 --spur-pid "$pid" || echo "# spur_vhost_memstall failed"
	daemon_stop
}

machine_header
echo "# spur: $SPUR_BUILD/bin/spur -m [0]; victim depth $DEPTH; $ITER iterations; settle $SETTLE_MS ms"
for c in $CASES; do
	case $c in
	1) run_case "1 GiB guest, 8 regions, 512 MiB written per round" 1g 8 512m ;;
	2) run_case "128 GiB guest, 8 regions, 512 MiB written per round" 128g 8 512m ;;
	3) run_case "128 GiB guest, 8 regions, $TOUCH written per round" 128g 8 "$TOUCH" ;;
	4) run_case "128 GiB guest, 1 region, $TOUCH written per round" 128g 1 "$TOUCH" ;;
	*) echo "unknown case $c" >&2; exit 2 ;;
	esac
done
