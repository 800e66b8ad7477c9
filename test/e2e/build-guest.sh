#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Build (once) the Linux guest that end-to-end tests boot under QEMU: Debian's
# kernel from linux-image-amd64, the modules the tests need (with depmod), a
# busybox-static userland and fio, sg3-utils and their shared libraries, in an
# initramfs. The result is cached outside the clone, keyed by the package
# versions and this script, so a fresh clone on the same machine reuses it.
#
# usage: test/e2e/build-guest.sh        prints the cache directory, which holds
#                                        vmlinuz and initramfs.cpio.gz
# env:   SPUR_CACHE_DIR (default /var/cache/spur-test)
set -eu

CACHE_ROOT=${SPUR_CACHE_DIR:-/var/cache/spur-test}
HERE=$(cd "$(dirname "$0")" && pwd)
MODULES="virtio_pci virtio_blk virtio_scsi sd_mod sg virtio_net nvme_tcp nvme_fabrics"
TOOLS="fio sg_inq sg_readcap sg_luns sg_unmap sg_sync sg_write_same sg_vpd sg_reset blkdiscard blockdev"

resolve_kernel() {
	apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
kpkg=$(resolve_kernel)
if [ -z "$kpkg" ]; then
	apt-get update -qq >/dev/null 2>&1 || true
	kpkg=$(resolve_kernel)
fi
[ -n "$kpkg" ] || { echo "build-guest: cannot resolve linux-image-amd64 from the package lists" >&2; exit 1; }
kver=$(apt-cache policy "$kpkg" | awk '/Candidate:/ { print $2 }')
bbver=$(dpkg-query -W -f='${Version}' busybox-static)
fiover=$(dpkg-query -W -f='${Version}' fio)
sgver=$(dpkg-query -W -f='${Version}' sg3-utils)
key=$(printf '%s\n' "$kpkg=$kver" "busybox=$bbver" "fio=$fiover" "sg3=$sgver" "$MODULES" "$TOOLS" \
	| cat - "$0" "$HERE/guest-init.sh" | sha256sum | cut -c1-16)
out="$CACHE_ROOT/guest-$key"
if [ -f "$out/initramfs.cpio.gz" ] && [ -f "$out/vmlinuz" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$CACHE_ROOT"
work=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download "$kpkg" >/dev/null 2>&1 || { echo "build-guest: apt-get download $kpkg failed" >&2; exit 1; }
dpkg -x ./*.deb kernel
krel=$(ls kernel/lib/modules | head -n1)

root="$work/root"
mkdir -p "$root/bin" "$root/sbin" "$root/lib" "$root/lib64" "$root/usr/bin" "$root/proc" \
	"$root/sys" "$root/dev" "$root/tmp" "$root/mnt" "$root/etc" "$root/lib/modules/$krel" \
	"$root/usr/sbin"

# Busybox and its applets.
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

# Tools with their shared libraries (and the dynamic loader), at their host
# paths. Busybox's shell runs its own applets for bare names (blkdiscard,
# blockdev), so scenarios call the full tools by path (/usr/sbin/blkdiscard).
for t in $TOOLS; do
	p=$(command -v "$t") || { echo "build-guest: $t not installed" >&2; exit 1; }
	mkdir -p "$root$(dirname "$p")"
	cp "$p" "$root$p"
	ldd "$p" | awk '/=>/ { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
		[ -n "$lib" ] && [ -f "$lib" ] || continue
		mkdir -p "$root$(dirname "$lib")"
		[ -f "$root$lib" ] || cp -L "$lib" "$root$lib"
	done
done

# Kernel modules the tests need, with their dependencies.
kmods="$work/kernel/lib/modules/$krel"
need=""
add_mod() {
	case " $need " in *" $1 "*) return ;; esac
	f=$(find "$kmods/kernel" -name "$1.ko*" | head -n1)
	[ -n "$f" ] || return 0 # built into the kernel
	need="$need $1"
	for dep in $(/sbin/modinfo -F depends "$f" | tr ',' ' '); do
		add_mod "$dep"
	done
}
for m in $MODULES; do
	add_mod "$m"
done
for m in $need; do
	f=$(find "$kmods/kernel" -name "$m.ko*" | head -n1)
	rel=${f#"$kmods/"}
	mkdir -p "$root/lib/modules/$krel/$(dirname "$rel")"
	cp "$f" "$root/lib/modules/$krel/$rel"
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
	[ -f "$kmods/$f" ] && cp "$kmods/$f" "$root/lib/modules/$krel/"
done
/sbin/depmod -b "$root" "$krel"
echo "$need" > "$root/etc/modules-needed"

cp "$HERE/guest-init.sh" "$root/init"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > initramfs.cpio.gz

mkdir -p "$out.tmp"
cp kernel/boot/vmlinuz-* "$out.tmp/vmlinuz"
mv initramfs.cpio.gz "$out.tmp/"
echo "$kpkg $kver" > "$out.tmp/versions"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out"
