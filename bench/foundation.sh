#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Runtime figures for docs/performance.md:
#  1. CPU used by an idle daemon over 10 s, per poll mode, next to
#     qemu-storage-daemon idle in the same run (when installed);
#  2. wake-up latency from an eventfd write to the poller running, per poll
#     mode, next to a plain pthread blocked in read(2) on the same eventfd.
# usage: bench/foundation.sh [build-dir]   (default build)
set -eu
BUILD=${1:-build}
IDLE_S=${IDLE_S:-10}
WAKEUPS=${WAKEUPS:-10000}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# CPU seconds (utime+stime) of a process, from /proc.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

idle_cpu() { # name, command...
	name=$1
	shift
	"$@" >"$tmp/out" 2>&1 &
	pid=$!
	sleep 2
	t0=$(cpu_ticks $pid)
	sleep "$IDLE_S"
	t1=$(cpu_ticks $pid)
	kill -TERM $pid
	wait $pid || true
	pid=
	hz=$(getconf CLK_TCK)
	awk -v n="$name" -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$IDLE_S" \
		'BEGIN { printf "idle_cpu %-28s %6.2f %% of a core\n", n, (b - a) * 100 / hz / s }'
}

machine_header
for mode in adaptive interrupt busy; do
	idle_cpu "spur --poll-mode $mode" "$BUILD/bin/spur" -r "$tmp/spur.sock" --poll-mode $mode
done
if command -v qemu-storage-daemon >/dev/null 2>&1; then
	idle_cpu "qemu-storage-daemon" qemu-storage-daemon \
		--blockdev driver=null-co,node-name=null0 \
		--export type=vhost-user-blk,id=e0,node-name=null0,addr.type=unix,addr.path="$tmp/qsd.sock"
fi

echo "# wake-up latency, $WAKEUPS events, 200 us apart, writer on core 1, reader/reactor on core 0"
for mode in raw interrupt adaptive busy; do
	"$BUILD/bin/spur_wakeup_latency" $mode "$WAKEUPS" 200 >"$tmp/w"
	awk -v m=$mode -F': ' '{ v[$1] = $2 } END {
		printf "wakeup %-10s p50 %7.2f us  p99 %8.2f us  avg %7.2f us  sleeps %s\n",
			m, v["p50_us"], v["p99_us"], v["avg_us"], (v["sleep_count"] == "" ? "-" : v["sleep_count"]) }' "$tmp/w"
done
