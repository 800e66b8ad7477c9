#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# vhost-user-scsi throughput and latency next to vhost-user-blk in the same
# spur: one reactor on core 0 serves a vhost-scsi controller (target 0 on a
# null bdev) and a vhost-blk controller (on another null bdev), both null
# bdevs 1 GiB of 512-byte blocks that leave read buffers untouched.
# spur_vhost_perf, pinned to core 1, drives each in turn (blk then scsi for
# every row, so both see the same machine): 4 KiB random reads at queue
# depth 1 and 32, with 1 and 2 queues, and the scsi/blk ratios of IOPS and
# p50 latency. There is no vhost-user-scsi export in qemu-storage-daemon to
# compare with; spur's own vhost-blk is the peer.
# usage: bench/vhost_scsi.sh [build-dir]     (default build)
# env: T (seconds per run, default 10), WORKLOADS (default randread),
#      QUEUES (default "1 2"), DEPTHS (default "1 32"),
#      PERF_ARGS (extra spur_vhost_perf options), POLL_MODE (spur, default adaptive),
#      PROFILE (1: also profile spur with perf(1) for PROFILE_T seconds, default 5,
#      at depth 32, one queue, and print spur's CPU time per request by source
#      file: samples of cpu-clock every 20 us, divided by the requests the
#      bdev counted meanwhile; it includes idle polling, so it is the cost of
#      a request only while spur's core is saturated, i.e. on a quiet machine)
set -eu
BUILD=${1:-build}
T=${T:-10}
WORKLOADS=${WORKLOADS:-randread}
QUEUES=${QUEUES:-1 2}
DEPTHS=${DEPTHS:-1 32}
PERF_ARGS=${PERF_ARGS:-}
POLL_MODE=${POLL_MODE:-adaptive}
PROFILE=${PROFILE:-0}
PROFILE_T=${PROFILE_T:-5}
PERIOD_NS=20000
SIZE=$((1 << 30))
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# Prints the total line's value of a field: field NAME LINE
field() {
	echo "$2" | awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'
}

run_perf() { # type socket workload queues depth
	# shellcheck disable=SC2086 # PERF_ARGS is a list of options
	"$BUILD/bin/spur_vhost_perf" --type "$1" -s "$2" --core 1 -t "$T" -w "$3" -n "$4" \
		-q "$5" $PERF_ARGS | grep '^IOPS'
}

read_ops() { # bdev
	"$BUILD/bin/spurctl" -s "$tmp/spur.sock" bdev_get_iostat -j "{\"name\":\"$1\"}" |
		awk -F'[:,]' '/"num_read_ops"/ { gsub(/ /, "", $2); print $2 }'
}

profile() { # type socket bdev
	# shellcheck disable=SC2086 # PERF_ARGS is a list of options
	"$BUILD/bin/spur_vhost_perf" --type "$1" -s "$2" --core 1 -t $((PROFILE_T + 3)) -q 32 \
		$PERF_ARGS >"$tmp/prof-$1.out" 2>&1 &
	ppid=$!
	sleep 1.5
	before=$(read_ops "$3")
	perf record -q -e cpu-clock -c $PERIOD_NS -o "$tmp/prof-$1.data" -p "$pid" \
		-- sleep "$PROFILE_T" >"$tmp/prof-$1.log" 2>&1 || { cat "$tmp/prof-$1.log"; exit 1; }
	ios=$(($(read_ops "$3") - before))
	wait "$ppid"
	echo "# $1: $ios requests in ${PROFILE_T}s; spur CPU ns per request by source file:"
	perf report -q -i "$tmp/prof-$1.data" --no-children --sort srcfile -n --stdio 2>/dev/null |
		awk -v ios="$ios" -v per="$PERIOD_NS" '
			$2 ~ /^[0-9]+$/ { n = $2; f = NF >= 3 ? $3 : "?"; t += n
				if (n * per / ios >= 1) printf "  %-22s %7.1f\n", f, n * per / ios }
			END { printf "  %-22s %7.1f\n", "total", t * per / ios }'
}

machine_header

spur_start -m '[0]' --poll-mode "$POLL_MODE"
for n in Null0 Null1; do
	rpc bdev_null_create -j "{\"name\":\"$n\",\"num_blocks\":$((SIZE / 512)),\"block_size\":512,\"zero_reads\":false}"
done
rpc vhost_create_scsi_controller --ctrlr vscsi.0
rpc vhost_scsi_controller_add_target --ctrlr vscsi.0 --scsi_target_num 0 --bdev_name Null0
rpc vhost_create_blk_controller --ctrlr vblk.0 --dev-name Null1

printf '%-9s %-6s %-3s %-5s %s\n' workload queues QD type "figures (spur_vhost_perf total line)"
summary=""
for w in $WORKLOADS; do
	for q in $QUEUES; do
		for d in $DEPTHS; do
			blk=$(run_perf blk "$tmp/vblk.0" "$w" "$q" "$d")
			printf '%-9s %-6d %-3d %-5s %s\n' "$w" "$q" "$d" blk "$blk"
			scsi=$(run_perf scsi "$tmp/vscsi.0" "$w" "$q" "$d")
			printf '%-9s %-6d %-3d %-5s %s\n' "$w" "$q" "$d" scsi "$scsi"
			summary="$summary$(awk -v w="$w" -v q="$q" -v d="$d" \
				-v bi="$(field IOPS "$blk")" -v si="$(field IOPS "$scsi")" \
				-v bp="$(field p50_us "$blk")" -v sp="$(field p50_us "$scsi")" \
				'BEGIN { printf "%-9s %-6d %-3d %10.0f %10.0f %6.2f %8.2f %8.2f %6.2f\n",
					w, q, d, bi, si, si / bi, bp, sp, sp / bp }')
"
		done
	done
done
echo
printf '%-9s %-6s %-3s %10s %10s %6s %8s %8s %6s\n' workload queues QD blk_IOPS scsi_IOPS ratio \
	blk_p50 scsi_p50 ratio
printf '%s' "$summary"
if [ "$PROFILE" = 1 ]; then
	echo
	profile blk "$tmp/vblk.0" Null1
	profile scsi "$tmp/vscsi.0" Null0
fi
daemon_stop
