# SPDX-License-Identifier: BSD-3-Clause
"""Boot the cached Linux test guest under QEMU (TCG) with a scenario script
and spur's vhost-user devices, and collect what the scenario printed.

The guest (kernel + initramfs with busybox, fio, sg3-utils) is built once by
build-guest.sh and cached outside the clone. A scenario is a shell script run
as the guest's /scenario.sh; it is appended to the initramfs as a second cpio
archive, so the base image is never rebuilt per test.
"""
import gzip
import io
import os
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_guest_dir = None

# Shell helpers for scenarios with virtio-scsi disks: disk_of T prints the
# sdX of target T (LUN 0); wait_disk T [TENTHS] waits for it to be a block
# device, up to TENTHS tenths of a second (default 600: 60 s); wait_gone T
# waits up to 60 s for it to disappear.
SCSI_DISK_SH = """
disk_of() {
    for d in /sys/bus/scsi/devices/*:0:$1:0/block/*; do
        [ -e "$d" ] && { basename "$d"; return 0; }
    done
    return 1
}
wait_disk() {
    i=0
    while ! D=$(disk_of $1) || [ ! -b /dev/$D ]; do
        i=$((i + 1)); [ $i -gt ${2:-600} ] && return 1
        sleep 0.1
    done
    echo $D
}
wait_gone() {
    i=0
    while disk_of $1 >/dev/null; do
        i=$((i + 1)); [ $i -gt 600 ] && return 1
        sleep 0.1
    done
}
"""


def guest_dir():
    global _guest_dir
    if _guest_dir is None:
        out = subprocess.run([os.path.join(HERE, "build-guest.sh")], stdout=subprocess.PIPE,
                             check=True, timeout=900)
        _guest_dir = out.stdout.decode().strip().splitlines()[-1]
    return _guest_dir


def _cpio_newc(files):
    """A minimal newc cpio archive of {path: (mode, bytes)}."""
    buf = io.BytesIO()
    ino = 1

    def entry(name, mode, data):
        nonlocal ino
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        ino += 1
        buf.write(hdr.encode() + name_b)
        buf.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
        buf.write(data)
        buf.write(b"\0" * ((4 - len(data) % 4) % 4))

    for name, (mode, data) in files.items():
        entry(name, mode, data)
    entry("TRAILER!!!", 0, b"")
    return buf.getvalue()


class Guest:
    """One QEMU guest. devices: extra QEMU arguments (chardevs, devices)."""

    def __init__(self, scenario, devices=(), mem="1G", smp=1, hugepages=None, timeout=600,
                 extra_files=None):
        self.tmp = tempfile.mkdtemp(prefix="spur-guest-")
        g = guest_dir()
        files = {"scenario.sh": (0o100755, scenario.encode())}
        for name, data in (extra_files or {}).items():
            files[name] = (0o100644, data)
        initrd = os.path.join(self.tmp, "initrd.gz")
        with open(os.path.join(g, "initramfs.cpio.gz"), "rb") as f:
            base = f.read()
        with open(initrd, "wb") as f:
            f.write(base)
            f.write(gzip.compress(_cpio_newc(files), 1))
        self.console = os.path.join(self.tmp, "console.log")
        if hugepages:
            memobj = f"memory-backend-file,id=mem,size={mem},mem-path={hugepages},share=on"
        else:
            memobj = f"memory-backend-memfd,id=mem,size={mem},share=on"
        self.argv = [
            "qemu-system-x86_64", "-machine", "q35,accel=tcg", "-cpu", "max",
            "-m", mem, "-smp", str(smp),
            "-object", memobj, "-numa", "node,memdev=mem",
            "-kernel", os.path.join(g, "vmlinuz"), "-initrd", initrd,
            "-append", "console=ttyS0 quiet panic=-1 oops=panic",
            "-nographic", "-no-reboot", "-serial", f"file:{self.console}",
            "-monitor", "none", "-nodefaults",
        ] + list(devices)
        self.timeout = timeout
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.tmp, "qemu.log"), "w")
        self.started = time.time()
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def wait(self, timeout=None):
        """Wait for the guest to power off; returns (scenario status, console text)."""
        try:
            self.proc.wait(timeout or self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("guest timed out; console:\n" + self.output()[-4000:])
        return self.status(), self.output()

    def run(self, timeout=None):
        self.start()
        return self.wait(timeout)

    def output(self):
        try:
            with open(self.console, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def qemu_log(self):
        self.log.flush()
        with open(os.path.join(self.tmp, "qemu.log"), errors="replace") as f:
            return f.read()

    def status(self):
        for line in self.output().splitlines():
            if line.startswith("SPUR-GUEST: exit "):
                return int(line.split()[-1])
        return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
