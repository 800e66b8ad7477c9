#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Block-device layer figures for docs/performance.md, each next to a peer in
# the same run: spur_bdevperf on the null and malloc bdevs against fio's null
# engine, and on uring (page cache and O_DIRECT) against fio's io_uring
# engine on the same file; 4 KiB random reads, one core, QD 1 and 128. Then
# the layer's own cost per I/O (spur_bdev_layer_bench).
# usage: bench/bdev.sh [build-dir]    env: SECONDS_PER_RUN (5), BENCH_FILE
set -eu
BUILD=${1:-build}
T=${SECONDS_PER_RUN:-5}
FILE=${BENCH_FILE:-/var/tmp/spur-bench.img}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

if [ ! -f "$FILE" ] || [ "$(stat -c %s "$FILE")" -lt 1073741824 ]; then
	dd if=/dev/urandom of="$FILE" bs=1M count=1024 status=none
fi

bdevperf() { # config-json qd -> "IOPS p50"
	echo "$1" > "$tmp/cfg.json"
	"$BUILD/bin/spur_bdevperf" -c "$tmp/cfg.json" -w randread -q "$2" -o 4096 -t "$T" \
		-m '[0]' --poll-mode busy 2>/dev/null |
		awk '/^Total:/ { for (i = 1; i <= NF; i++) { if ($i == "IOPS") iops = $(i + 1); if ($i == "p50_us") p50 = $(i + 1) } } END { print iops, p50 }'
}

fio_run() { # engine qd [file-args...] -> "IOPS p50"
	engine=$1 qd=$2
	shift 2
	taskset -c 0 fio --name=peer --ioengine="$engine" --rw=randread --bs=4k --iodepth="$qd" \
		--time_based --runtime="$T" --numjobs=1 --output-format=json "$@" > "$tmp/fio.json" 2>/dev/null
	python3 - "$tmp/fio.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]["read"]
print(round(j["iops"]), round(j["clat_ns"]["percentile"]["50.000000"] / 1000, 2))
PY
}

bdev() { # name create-method params
	printf '{"subsystems":[{"subsystem":"bdev","config":[{"method":"%s","params":%s}]}]}' "$2" "$3"
}

row() { # label qd spur peer
	awk -v l="$1" -v q="$2" -v s="$3" -v p="$4" 'BEGIN {
		split(s, a, " "); split(p, b, " ");
		printf "%-34s QD%-4s spur %9d IOPS p50 %6.2f us | peer %9d IOPS p50 %6.2f us | ratio %.2f\n",
			l, q, a[1], a[2], b[1], b[2], (b[1] > 0 ? a[1] / b[1] : 0) }'
}

machine_header
echo "# $T s per run, 4 KiB randread, core 0"
NULLCFG=$(bdev N0 bdev_null_create '{"name":"N0","num_blocks":262144,"block_size":4096,"zero_reads":false}')
MALLOCCFG=$(bdev M0 bdev_malloc_create '{"name":"M0","num_blocks":262144,"block_size":4096}')
PCCFG=$(bdev U0 bdev_uring_create "{\"name\":\"U0\",\"filename\":\"$FILE\",\"block_size\":4096,\"use_direct_io\":false}")
DIOCFG=$(bdev U0 bdev_uring_create "{\"name\":\"U0\",\"filename\":\"$FILE\",\"block_size\":4096}")
cat "$FILE" > /dev/null # page cache warm for the buffered runs
for qd in 1 128; do
	row "null bdev vs fio null engine" $qd "$(bdevperf "$NULLCFG" $qd)" "$(fio_run null $qd --size=1g)"
	row "malloc bdev vs fio null engine" $qd "$(bdevperf "$MALLOCCFG" $qd)" "$(fio_run null $qd --size=1g)"
	row "uring page cache vs fio io_uring" $qd "$(bdevperf "$PCCFG" $qd)" "$(fio_run io_uring $qd --filename="$FILE" --direct=0)"
	row "uring O_DIRECT vs fio io_uring" $qd "$(bdevperf "$DIOCFG" $qd)" "$(fio_run io_uring $qd --filename="$FILE" --direct=1)"
done
echo "# layer cost per I/O (null module, QD 128, thread CPU time)"
taskset -c 0 "$BUILD/test/unit/lib/bdev/spur_bdev_layer_bench" 2>&1 | grep "ns/IO"
