#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Install what spur needs to build and test, from Debian's archive.
# Idempotent and silent when everything is there; needs root (or sudo) only
# when something is missing.
set -eu

# Build: compiler toolchain and libraries.
BUILD_PKGS="gcc make pkg-config meson ninja-build libjansson-dev liburing-dev libaio-dev libcmocka-dev linux-libc-dev"
# Tests: integration tests are Python (stdlib only); end-to-end tests boot a
# Debian kernel under QEMU with a busybox initramfs holding fio and sg3-utils
# (cpio and kmod build it), and compare against qemu-storage-daemon.
TEST_PKGS="python3 qemu-system-x86 qemu-system-common busybox-static fio sg3-utils cpio kmod util-linux"

missing=""
for p in $BUILD_PKGS $TEST_PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root to install$missing" >&2; exit 1; }
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
