#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Run every test in each given build directory (the normal build and the
# ASan+UBSan build) and end with one line: "N passed, N failed".
set -u
passed=0
failed=0
skipped=0
for dir in "$@"; do
	echo "== tests in $dir"
	meson test -C "$dir" --print-errorlogs --num-processes 2 --no-rebuild
	log="$dir/meson-logs/testlog.json"
	if [ ! -s "$log" ]; then
		echo "run-tests: no test log in $dir" >&2
		failed=$((failed + 1))
		continue
	fi
	counts=$(python3 - "$log" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line).get("result", "")
    if r == "OK":
        p += 1
    elif r == "SKIP":
        s += 1
    else:
        f += 1
print(p, f, s)
PY
)
	passed=$((passed + $(echo "$counts" | cut -d' ' -f1)))
	failed=$((failed + $(echo "$counts" | cut -d' ' -f2)))
	skipped=$((skipped + $(echo "$counts" | cut -d' ' -f3)))
done
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ]
