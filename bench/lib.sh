# shellcheck shell=sh
# SPDX-License-Identifier: BSD-3-Clause
# Sourced by the bench shell scripts (POSIX sh): a temporary directory
# removed at exit with any daemon still running stopped, the machine header,
# starting spur with its RPC socket and vhost socket directory in that
# directory, spurctl calls, waiting for a socket, stopping the daemon.
# The sourcing script sets BUILD first (SPUR_BUILD, the build whose spur
# and spurctl run, defaults to it).
SPUR_BUILD=${SPUR_BUILD:-$BUILD}
tmp=$(mktemp -d)
pid=

bench_cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap bench_cleanup EXIT

# Wait up to 10 s for a Unix socket; fail the script if it never appears.
wait_for() { # path
	i=0
	while [ ! -S "$1" ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -S "$1" ] || { echo "bench: $1 never appeared" >&2; exit 1; }
}

machine_header() {
	echo "# machine: $(nproc) cores, $(awk '/model name/ { $1 = $2 = $3 = ""; print; exit }' /proc/cpuinfo | sed 's/^ *//'), kernel $(uname -r), $(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "# load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# Start spur in the background ($pid) with its sockets in $tmp; extra options as arguments.
spur_start() {
	rm -f "$tmp/spur.sock"
	"$SPUR_BUILD/bin/spur" -r "$tmp/spur.sock" -S "$tmp" "$@" >"$tmp/spur.log" 2>&1 &
	pid=$!
	wait_for "$tmp/spur.sock"
}

rpc() {
	"$SPUR_BUILD/bin/spurctl" -s "$tmp/spur.sock" "$@" >/dev/null
}

# Stop the daemon started last (spur, or a peer whose pid the script set).
daemon_stop() {
	kill "$pid"
	wait "$pid" || true
	pid=
}
