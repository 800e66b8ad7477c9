# SPDX-License-Identifier: BSD-3-Clause
"""vhost-user-blk end to end: QEMU (TCG) with a Debian Linux guest, its
virtio-blk driver and fio, against spur. Every scenario checks results the
way a user would: fio's verify, bytes on the backing file, zeroes after
discard, errors seen by the guest, and spur still serving afterwards."""
import hashlib
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

import guest  # noqa: E402
from spurtest import SpurTestCase  # noqa: E402

FIO_VERIFY = """
fio --name=verify --filename=/dev/vda --direct=1 --ioengine=libaio --iodepth=16 \\
    --rw=randwrite --bsrange=4k-256k --size={size} --numjobs={jobs} --offset_increment={size} \\
    --verify=crc32c --do_verify=1 --verify_fatal=1 --group_reporting --output-format=terse \\
    > /tmp/fio.out 2>&1
st=$?
cut -d';' -f1-6 /tmp/fio.out | head -n 3
echo "FIO-STATUS $st"
grep -c . /sys/block/vda/mq/*/cpu_list 2>/dev/null | wc -l | sed 's/^/QUEUES /'
dmesg | grep -i "i/o error" && exit 9
exit $st
"""


def vhost_devices(sock, name="c0", queues=1, packed=False, extra=""):
    dev = f"vhost-user-blk-pci,chardev={name},num-queues={queues}"
    if packed:
        dev += ",packed=on"
    return ["-chardev", f"socket,id={name},path={sock},reconnect=1", "-device", dev + extra]


class VhostBlkTest(SpurTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="spur-e2e-")
        self.guests = []

    def tearDown(self):
        for g in self.guests:
            g.kill()
        super().tearDown()

    def spur(self, *args):
        return self.start("-S", self.tmp, "-m", "[0,1]", *args)

    def backing_file(self, size=64 << 20, name="disk.img"):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.truncate(size)
        return path

    def controller(self, d, bdev, name="vhost.0", **kw):
        params = {"ctrlr": name, "dev_name": bdev}
        params.update(kw)
        d.call("vhost_create_blk_controller", params)
        return os.path.join(self.tmp, name)

    def boot(self, scenario, devices, smp=1, **kw):
        g = guest.Guest(scenario, devices=devices, smp=smp, **kw)
        self.guests.append(g)
        return g

    def run_guest(self, scenario, devices, smp=1, **kw):
        g = self.boot(scenario, devices, smp, **kw)
        status, out = g.run()
        return status, out, g

    def fio_verify(self, queues, packed):
        d = self.spur()
        d.call("bdev_uring_create", {"name": "U0", "filename": self.backing_file(),
                                     "block_size": 512})
        sock = self.controller(d, "U0", packed_ring=packed)
        jobs = queues
        status, out, g = self.run_guest(FIO_VERIFY.format(size="8M", jobs=jobs),
                                        vhost_devices(sock, queues=queues, packed=packed),
                                        smp=queues)
        self.assertEqual(status, 0, out[-3000:])
        self.assertIn("FIO-STATUS 0", out)
        self.assertIn(f"QUEUES {queues}", out)
        st = d.call("bdev_get_iostat", {"name": "U0"})["bdevs"][0]
        self.assertGreater(st["num_write_ops"], 0)
        self.assertGreater(st["num_read_ops"], 0)
        self.assertStopsCleanly(d)

    def test_fio_verify_split_1q(self):
        self.fio_verify(1, False)

    def test_fio_verify_split_4q(self):
        self.fio_verify(4, False)

    def test_fio_verify_packed_1q(self):
        self.fio_verify(1, True)

    def test_fio_verify_packed_4q(self):
        self.fio_verify(4, True)

    def test_bytes_on_backing_file_and_flush(self):
        d = self.spur()
        path = self.backing_file()
        d.call("bdev_uring_create", {"name": "U0", "filename": path, "block_size": 512})
        sock = self.controller(d, "U0")
        scenario = """
dd if=/dev/urandom of=/tmp/p bs=1M count=4 2>/dev/null
dd if=/tmp/p of=/dev/vda bs=1M seek=2 oflag=direct conv=fsync 2>/dev/null || exit 3
echo "MD5 $(md5sum /tmp/p | cut -d' ' -f1)"
cat /sys/block/vda/size | sed 's/^/SECTORS /'
exit 0
"""
        status, out, g = self.run_guest(scenario, vhost_devices(sock))
        self.assertEqual(status, 0, out[-3000:])
        md5 = [l.split()[1] for l in out.splitlines() if l.startswith("MD5 ")][0]
        sectors = int([l.split()[1] for l in out.splitlines() if l.startswith("SECTORS ")][0])
        self.assertEqual(sectors, (64 << 20) // 512)
        with open(path, "rb") as f:
            f.seek(2 << 20)
            self.assertEqual(hashlib.md5(f.read(4 << 20)).hexdigest(), md5)
        st = d.call("bdev_get_iostat", {"name": "U0"})["bdevs"][0]
        self.assertGreater(st.get("num_flush_ops", 0), 0, "guest fsync did not reach the bdev")
        self.assertStopsCleanly(d)

    def test_discard_and_write_zeroes_read_back_zeroes(self):
        d = self.spur()
        path = self.backing_file()
        with open(path, "r+b") as f:
            f.write(b"\xa5" * (8 << 20))
        d.call("bdev_uring_create", {"name": "U0", "filename": path, "block_size": 512})
        sock = self.controller(d, "U0")
        scenario = """
cat /sys/block/vda/queue/discard_max_bytes | sed 's/^/DISCARD_MAX /'
/usr/sbin/blkdiscard -o 0 -l 1048576 /dev/vda || exit 3
/usr/sbin/blkdiscard -z -o 2097152 -l 1048576 /dev/vda || exit 4
Z=$(dd if=/dev/zero bs=1M count=1 2>/dev/null | md5sum | cut -d' ' -f1)
A=$(dd if=/dev/vda bs=1M count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
B=$(dd if=/dev/vda bs=1M skip=2 count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
C=$(dd if=/dev/vda bs=1M skip=4 count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
[ "$A" = "$Z" ] || exit 5
[ "$B" = "$Z" ] || exit 6
[ "$C" != "$Z" ] || exit 7
exit 0
"""
        status, out, g = self.run_guest(scenario, vhost_devices(sock))
        self.assertEqual(status, 0, out[-3000:])
        with open(path, "rb") as f:
            data = f.read(5 << 20)
        self.assertEqual(data[:1 << 20], b"\0" * (1 << 20))
        self.assertEqual(data[2 << 20:3 << 20], b"\0" * (1 << 20))
        self.assertEqual(data[4 << 20:5 << 20], b"\xa5" * (1 << 20))
        self.assertStopsCleanly(d)

    def test_readonly_controller(self):
        d = self.spur()
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 32768, "block_size": 512})
        sock = self.controller(d, "M0", readonly=True)
        scenario = """
echo "RO $(cat /sys/block/vda/ro)"
dd if=/dev/zero of=/dev/vda bs=4k count=1 oflag=direct 2>&1 && exit 3
dd if=/dev/vda of=/dev/null bs=4k count=16 iflag=direct 2>/dev/null || exit 4
exit 0
"""
        status, out, g = self.run_guest(scenario, vhost_devices(sock))
        self.assertEqual(status, 0, out[-3000:])
        self.assertIn("RO 1", out)
        self.assertEqual(d.call("bdev_get_iostat", {"name": "M0"})["bdevs"][0]["num_write_ops"], 0)
        self.assertStopsCleanly(d)

    def test_injected_error_seen_by_guest(self):
        d = self.spur()
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 32768, "block_size": 512})
        d.call("bdev_error_create", {"base_name": "M0"})
        sock = self.controller(d, "EE_M0")
        scenario = """
dd if=/dev/vda of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null || exit 3
echo READY
i=0
while [ ! -e /dev/vda ] || dd if=/dev/vda of=/dev/null bs=4k count=1 skip=100 iflag=direct 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 600 ] && exit 4
    sleep 0.1
done
dmesg | grep -qi "i/o error" || exit 5
echo "GUEST-SAW-ERROR"
dd if=/dev/vda of=/dev/null bs=4k count=1 skip=200 iflag=direct 2>/dev/null || exit 6
exit 0
"""
        g = self.boot(scenario, vhost_devices(sock)).start()
        import time
        deadline = time.time() + 300
        while "READY" not in g.output() and time.time() < deadline and g.proc.poll() is None:
            time.sleep(0.2)
        d.call("bdev_error_inject_error", {"name": "EE_M0", "io_type": "read",
                                           "error_type": "failure", "num": 1})
        status, out = g.wait()
        self.assertEqual(status, 0, out[-3000:])
        self.assertIn("GUEST-SAW-ERROR", out)
        self.assertEqual(d.call("spdk_get_version")["version"][:6], "spur v")
        self.assertStopsCleanly(d)

    def test_default_config_serves_vhost0(self):
        """What README's quick start promises: --default-config serves
        Malloc0 (256 MiB) as vhost.0 and prints the QEMU options."""
        d = self.start("-S", self.tmp, "--default-config")
        sock = os.path.join(self.tmp, "vhost.0")
        self.assertIn(f"path={sock},reconnect=1", d.output())
        status, out, g = self.run_guest("echo \"SIZE $(cat /sys/block/vda/size)\"\n",
                                        vhost_devices(sock, queues=2), smp=2)
        self.assertIn("SIZE %d" % (256 * 1024 * 1024 // 512), out)
        self.assertStopsCleanly(d)
        self.assertFalse(os.path.exists(sock), "socket left after a clean exit")

    def test_resize_reaches_guest_and_serial(self):
        """A bdev resize updates the capacity the guest sees, without a
        rescan by hand (config-change message over the backend channel), and
        the disk's serial is derived from the bdev's UUID."""
        d = self.spur()
        uuid = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
        d.call("bdev_null_create", {"name": "N0", "num_blocks": 16384, "block_size": 512,
                                    "uuid": uuid})
        sock = self.controller(d, "N0")
        scenario = """
echo "SERIAL $(cat /sys/block/vda/serial)"
echo "SIZE0 $(cat /sys/block/vda/size)"
echo READY
i=0
while [ "$(cat /sys/block/vda/size)" = 16384 ]; do
    i=$((i + 1)); [ $i -gt 600 ] && exit 3
    sleep 0.1
done
echo "SIZE1 $(cat /sys/block/vda/size)"
dd if=/dev/vda of=/dev/null bs=1M skip=12 count=1 iflag=direct 2>/dev/null || exit 4
exit 0
"""
        g = self.boot(scenario, vhost_devices(sock)).start()
        import time
        deadline = time.time() + 300
        while "READY" not in g.output() and time.time() < deadline and g.proc.poll() is None:
            time.sleep(0.2)
        self.assertTrue(d.call("bdev_null_resize", {"name": "N0", "new_size": 16}))
        status, out = g.wait()
        self.assertEqual(status, 0, out[-3000:])
        self.assertIn("SIZE0 16384", out)
        self.assertIn("SIZE1 32768", out)
        self.assertIn("SERIAL " + uuid.replace("-", "")[:20], out)
        self.assertStopsCleanly(d)

    def test_hugetlbfs_guest_memory(self):
        """Guest RAM on hugetlbfs (2 MiB pages reserved for the test, given
        back afterwards): spur maps it like any other fd, no hugepage setup
        of its own."""
        need = 1024 // 2 + 16
        with open("/proc/sys/vm/nr_hugepages") as f:
            before = int(f.read())
        mnt = os.path.join(self.tmp, "huge")
        os.mkdir(mnt)
        try:
            with open("/proc/sys/vm/nr_hugepages", "w") as f:
                f.write(str(before + need))
            with open("/proc/meminfo") as f:
                free = int([l.split()[1] for l in f if l.startswith("HugePages_Free")][0])
            self.assertGreaterEqual(free, need, "could not reserve 2 MiB hugepages")
            subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "none", mnt],
                           check=True)
            d = self.spur()
            d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 65536, "block_size": 512})
            sock = self.controller(d, "M0")
            status, out, g = self.run_guest(FIO_VERIFY.format(size="4M", jobs=1),
                                            vhost_devices(sock), hugepages=mnt)
            self.assertEqual(status, 0, out[-3000:])
            self.assertIn("FIO-STATUS 0", out)
            self.assertStopsCleanly(d)
        finally:
            subprocess.run(["umount", mnt], check=False)
            with open("/proc/sys/vm/nr_hugepages", "w") as f:
                f.write(str(before))

    def test_two_vms_two_controllers(self):
        d = self.spur()
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 65536, "block_size": 512})
        d.call("bdev_malloc_create", {"name": "M1", "num_blocks": 65536, "block_size": 512})
        s0 = self.controller(d, "M0", name="vhost.0")
        s1 = self.controller(d, "M1", name="vhost.1")
        scenario = FIO_VERIFY.format(size="4M", jobs=1)
        g0 = self.boot(scenario, vhost_devices(s0)).start()
        g1 = self.boot(scenario, vhost_devices(s1)).start()
        for g in (g0, g1):
            status, out = g.wait()
            self.assertEqual(status, 0, out[-3000:])
        ctrls = {c["ctrlr"]: c for c in d.call("vhost_get_controllers")}
        self.assertEqual(set(ctrls), {"vhost.0", "vhost.1"})
        self.assertStopsCleanly(d)


if __name__ == "__main__":
    unittest.main()
