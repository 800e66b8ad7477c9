# SPDX-License-Identifier: BSD-3-Clause
"""vhost-user-scsi end to end: QEMU 7.2 (TCG) with a Debian Linux guest, its
virtio-scsi driver, sg3-utils and fio, against spur's vhost-scsi device type
and SCSI layer. Every scenario checks what the guest saw against the bdev:
identity and capacity pages, data and zeroes on the backing file, fio's
verify, disks appearing and disappearing on hot-plug events without a
manual rescan, capacity changes, errors reported as SCSI sense, and spur
still serving afterwards.

QEMU 7.2's vhost-user-scsi cannot reconnect: its chardev is used without
reconnect= (device initialization fails with it)."""
import hashlib
import os
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

import guest  # noqa: E402
from spurtest import SpurTestCase  # noqa: E402

# Shell helpers every scenario starts with (guest.SCSI_DISK_SH).
PRELUDE = guest.SCSI_DISK_SH


def scsi_devices(sock, name="s0", queues=1):
    return ["-chardev", f"socket,id={name},path={sock}",
            "-device", f"vhost-user-scsi-pci,chardev={name},num_queues={queues}"]


def lines_with(out, prefix):
    return [line[len(prefix):].strip() for line in out.splitlines() if line.startswith(prefix)]


class VhostScsiTest(SpurTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="spur-e2e-scsi-")
        self.guests = []

    def tearDown(self):
        for g in self.guests:
            g.kill()
        super().tearDown()

    def spur(self, *args):
        return self.start("-S", self.tmp, "-m", "[0,1]", *args)

    def backing_file(self, size=64 << 20, name="disk.img", fill=None):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            if fill is not None:
                f.write(fill * size)
            else:
                f.truncate(size)
        return path

    def controller(self, d, targets, name="vscsi.0"):
        """Create a controller with {target number: bdev}; returns its socket."""
        self.assertTrue(d.call("vhost_create_scsi_controller", {"ctrlr": name}))
        for num, bdev in targets.items():
            self.assertEqual(d.call("vhost_scsi_controller_add_target",
                                    {"ctrlr": name, "scsi_target_num": num,
                                     "bdev_name": bdev}), num)
        return os.path.join(self.tmp, name)

    def boot(self, scenario, devices, smp=1, **kw):
        g = guest.Guest(PRELUDE + scenario, devices=devices, smp=smp, **kw)
        self.guests.append(g)
        return g

    def run_guest(self, scenario, devices, smp=1, **kw):
        g = self.boot(scenario, devices, smp, **kw)
        status, out = g.run()
        return status, out, g

    def wait_for(self, g, marker, timeout=300):
        deadline = time.time() + timeout
        while marker not in g.output():
            if time.time() > deadline or g.proc.poll() is not None:
                self.fail(f"guest never printed {marker}; console:\n" + g.output()[-4000:])
            time.sleep(0.2)

    def test_identity_capacity_luns(self):
        """INQUIRY, the serial and device identification pages (from the
        bdev's UUID), READ CAPACITY(16) and REPORT LUNS as sg3-utils print
        them, against the bdev."""
        d = self.spur()
        uuid = "7d1c2c44-0f64-4b5e-9a3e-2b6c1b0f9e21"
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 65536, "block_size": 512,
                                      "uuid": uuid})
        sock = self.controller(d, {0: "M0"})
        scenario = """
D=$(wait_disk 0) || exit 2
echo "DISK $D"
/usr/bin/sg_inq /dev/$D || exit 3
/usr/bin/sg_vpd -p sn /dev/$D || exit 4
/usr/bin/sg_vpd -p di /dev/$D || exit 5
/usr/bin/sg_readcap -l /dev/$D || exit 6
/usr/bin/sg_luns /dev/$D || exit 7
echo "SECTORS $(cat /sys/block/$D/size)"
echo "HOSTS $(ls /sys/bus/scsi/devices | grep -c ':0:0:0$')"
exit 0
"""
        status, out, g = self.run_guest(scenario, scsi_devices(sock))
        self.assertEqual(status, 0, out[-4000:])
        self.assertIn("DISK sda", out)
        self.assertRegex(out, r"Vendor identification: SPUR")
        self.assertRegex(out, r"Product identification: Malloc disk")
        self.assertIn("Unit serial number: " + uuid.replace("-", ""), out)
        self.assertRegex(out, r"Last LBA=65535 \(0xffff\), Number of logical blocks=65536")
        self.assertIn("Logical block length=512 bytes", out)
        self.assertRegex(out, r"Report luns.*\n\s+0000000000000000")
        self.assertIn("SECTORS 65536", out)
        # The NAA designator carries the UUID (its first hex digits after the "6").
        self.assertRegex(out.lower(), r"0x6" + uuid.replace("-", "")[:12])
        st = d.call("bdev_get_iostat", {"name": "M0"})["bdevs"][0]
        self.assertGreater(st["num_read_ops"], 0)
        self.assertStopsCleanly(d)

    def test_unmap_sync_write_same(self):
        """UNMAP reads back zeroes, SYNCHRONIZE CACHE reaches the bdev,
        WRITE SAME fills a range; the bytes are checked on the backing
        file."""
        d = self.spur()
        path = self.backing_file(fill=b"\xa5", size=16 << 20)
        d.call("bdev_uring_create", {"name": "U0", "filename": path, "block_size": 512})
        sock = self.controller(d, {0: "U0"})
        scenario = """
D=$(wait_disk 0) || exit 2
/usr/bin/sg_vpd -p lbpv /dev/$D
/usr/bin/sg_unmap --force --lba=0 --num=2048 /dev/$D || exit 3
Z=$(dd if=/dev/zero bs=1M count=1 2>/dev/null | md5sum | cut -d' ' -f1)
A=$(dd if=/dev/$D bs=1M count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
[ "$A" = "$Z" ] || exit 4
/usr/bin/sg_sync /dev/$D || exit 5
/usr/bin/sg_write_same --ff --lba=4096 --num=16 /dev/$D || exit 6
FF=$(dd if=/dev/zero bs=512 count=16 2>/dev/null | tr '\\000' '\\377' | md5sum | cut -d' ' -f1)
W=$(dd if=/dev/$D bs=512 skip=4096 count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
[ "$W" = "$FF" ] || exit 7
dd if=/dev/urandom of=/tmp/p bs=1M count=2 2>/dev/null
dd if=/tmp/p of=/dev/$D bs=1M seek=4 oflag=direct conv=fsync 2>/dev/null || exit 8
echo "MD5 $(md5sum /tmp/p | cut -d' ' -f1)"
exit 0
"""
        status, out, g = self.run_guest(scenario, scsi_devices(sock))
        self.assertEqual(status, 0, out[-4000:])
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(data[:1 << 20], b"\0" * (1 << 20))
        self.assertEqual(data[1 << 20:(1 << 20) + 4096], b"\xa5" * 4096)
        self.assertEqual(data[4096 * 512:4112 * 512], b"\xff" * (16 * 512))
        self.assertEqual(data[4112 * 512:4113 * 512], b"\xa5" * 512)
        md5 = lines_with(out, "MD5 ")[0]
        self.assertEqual(hashlib.md5(data[4 << 20:6 << 20]).hexdigest(), md5)
        st = d.call("bdev_get_iostat", {"name": "U0"})["bdevs"][0]
        self.assertGreater(st.get("num_flush_ops", 0), 0, "SYNCHRONIZE CACHE did not flush")
        self.assertGreater(st.get("num_unmap_ops", 0), 0)
        self.assertStopsCleanly(d)

    def test_fio_verify_two_queues(self):
        d = self.spur()
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 131072, "block_size": 512})
        sock = self.controller(d, {0: "M0"})
        scenario = """
D=$(wait_disk 0) || exit 2
fio --name=verify --filename=/dev/$D --direct=1 --ioengine=libaio --iodepth=16 \\
    --rw=randwrite --bsrange=4k-256k --size=8M --numjobs=2 --offset_increment=8M \\
    --verify=crc32c --do_verify=1 --verify_fatal=1 --group_reporting \\
    --output-format=terse > /tmp/fio.out 2>&1
st=$?
cut -d';' -f1-6 /tmp/fio.out | head -n 3
echo "FIO-STATUS $st"
echo "QUEUES $(ls -d /sys/block/$D/mq/* | wc -l)"
dmesg | grep -i "i/o error" && exit 9
exit $st
"""
        status, out, g = self.run_guest(scenario, scsi_devices(sock, queues=2), smp=2)
        self.assertEqual(status, 0, out[-4000:])
        self.assertIn("FIO-STATUS 0", out)
        self.assertIn("QUEUES 2", out)
        st = d.call("bdev_get_iostat", {"name": "M0"})["bdevs"][0]
        self.assertGreater(st["num_write_ops"], 0)
        self.assertGreater(st["num_read_ops"], 0)
        self.assertStopsCleanly(d)

    def test_two_targets(self):
        """Targets 0 and 3 on two files: each disk's data lands in its own file."""
        d = self.spur()
        p0 = self.backing_file(name="t0.img", size=16 << 20)
        p3 = self.backing_file(name="t3.img", size=32 << 20)
        d.call("bdev_uring_create", {"name": "U0", "filename": p0, "block_size": 512})
        d.call("bdev_uring_create", {"name": "U3", "filename": p3, "block_size": 4096})
        sock = self.controller(d, {0: "U0", 3: "U3"})
        scenario = """
A=$(wait_disk 0) || exit 2
B=$(wait_disk 3) || exit 3
echo "T0 $A $(cat /sys/block/$A/queue/logical_block_size) $(cat /sys/block/$A/size)"
echo "T3 $B $(cat /sys/block/$B/queue/logical_block_size) $(cat /sys/block/$B/size)"
dd if=/dev/urandom of=/tmp/a bs=1M count=1 2>/dev/null
dd if=/dev/urandom of=/tmp/b bs=1M count=1 2>/dev/null
dd if=/tmp/a of=/dev/$A bs=1M seek=1 oflag=direct 2>/dev/null || exit 4
dd if=/tmp/b of=/dev/$B bs=1M seek=2 oflag=direct 2>/dev/null || exit 5
echo "MDA $(md5sum /tmp/a | cut -d' ' -f1)"
echo "MDB $(md5sum /tmp/b | cut -d' ' -f1)"
exit 0
"""
        status, out, g = self.run_guest(scenario, scsi_devices(sock))
        self.assertEqual(status, 0, out[-4000:])
        t0 = lines_with(out, "T0 ")[0].split()
        t3 = lines_with(out, "T3 ")[0].split()
        self.assertEqual(t0[1:], ["512", str((16 << 20) // 512)])
        self.assertEqual(t3[1:], ["4096", str((32 << 20) // 512)])
        with open(p0, "rb") as f:
            f.seek(1 << 20)
            self.assertEqual(hashlib.md5(f.read(1 << 20)).hexdigest(), lines_with(out, "MDA ")[0])
        with open(p3, "rb") as f:
            f.seek(2 << 20)
            self.assertEqual(hashlib.md5(f.read(1 << 20)).hexdigest(), lines_with(out, "MDB ")[0])
        ctrl = d.call("vhost_get_controllers", {"name": "vscsi.0"})[0]
        scsi = ctrl["backend_specific"]["scsi"]
        self.assertEqual([(t["scsi_dev_num"], t["luns"]) for t in scsi],
                         [(0, [{"id": 0, "bdev_name": "U0"}]),
                          (3, [{"id": 0, "bdev_name": "U3"}])])
        self.assertStopsCleanly(d)

    def test_hot_add_remove_under_fio(self):
        """While fio verifies target 0, target 1 is added (the guest finds
        the disk by itself), used, then removed with reads in flight on it
        (the disk goes away by itself, the reads end, fio on target 0 is
        untouched); then target 1's bdev is deleted under a re-added target."""
        d = self.spur()
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 131072, "block_size": 512})
        d.call("bdev_malloc_create", {"name": "M1", "num_blocks": 32768, "block_size": 512})
        sock = self.controller(d, {0: "M0"})
        scenario = """
A=$(wait_disk 0) || exit 2
fio --name=bg --filename=/dev/$A --direct=1 --ioengine=libaio --iodepth=8 --rw=randwrite \\
    --bs=4k --size=16M --verify=crc32c --verify_backlog=64 --verify_fatal=1 \\
    --time_based --runtime=1200 > /tmp/fio.out 2>&1 &
FIO=$!
echo READY-ADD
B=$(wait_disk 1) || exit 3
echo "ADDED $B $(cat /sys/block/$B/size)"
dd if=/dev/urandom of=/tmp/b bs=64k count=4 2>/dev/null
dd if=/tmp/b of=/dev/$B bs=64k oflag=direct 2>/dev/null || exit 4
R=$(dd if=/dev/$B bs=64k count=4 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
[ "$R" = "$(md5sum /tmp/b | cut -d' ' -f1)" ] || exit 5
( while dd if=/dev/$B of=/dev/null bs=256k count=64 iflag=direct 2>/dev/null; do :; done ) &
READER=$!
sleep 1
echo READY-REMOVE
wait_gone 1 || exit 6
echo "REMOVED $B"
wait $READER
echo "READER-ENDED $?"
echo READY-BDEV
B=$(wait_disk 1) || exit 7
echo "READDED $B"
( while dd if=/dev/$B of=/dev/null bs=64k count=16 iflag=direct 2>/dev/null; do :; done ) &
READER=$!
sleep 1
echo READY-DELETE
wait_gone 1 || exit 8
wait $READER
echo "BDEV-GONE"
kill -INT $FIO 2>/dev/null
wait $FIO
echo "FIO-ON-T0 $?"
grep -E "IOPS=|err=" /tmp/fio.out | head -n 3
grep -i -E "verify.*(bad|fail)|err= *[1-9]" /tmp/fio.out && exit 9
grep -q "err= 0" /tmp/fio.out || { cat /tmp/fio.out; exit 10; }
dd if=/dev/$A of=/dev/null bs=1M count=4 iflag=direct 2>/dev/null || exit 11
dmesg | grep -E "BUG|Call Trace|Oops" && exit 12
echo "HEALTHY"
exit 0
"""
        g = self.boot(scenario, scsi_devices(sock, queues=2), smp=2).start()
        self.wait_for(g, "READY-ADD")
        self.assertEqual(d.call("vhost_scsi_controller_add_target",
                                {"ctrlr": "vscsi.0", "scsi_target_num": -1,
                                 "bdev_name": "M1"}), 1)
        self.wait_for(g, "READY-REMOVE")
        self.assertTrue(d.call("vhost_scsi_controller_remove_target",
                               {"ctrlr": "vscsi.0", "scsi_target_num": 1}, timeout=60))
        scsi = d.call("vhost_get_controllers")[0]["backend_specific"]["scsi"]
        self.assertEqual([t["scsi_dev_num"] for t in scsi], [0])
        self.wait_for(g, "READY-BDEV")
        self.assertEqual(d.call("vhost_scsi_controller_add_target",
                                {"ctrlr": "vscsi.0", "scsi_target_num": 1,
                                 "bdev_name": "M1"}), 1)
        self.wait_for(g, "READY-DELETE")
        self.assertTrue(d.call("bdev_malloc_delete", {"name": "M1"}, timeout=60))
        status, out = g.wait()
        self.assertEqual(status, 0, out[-4000:])
        self.assertIn("ADDED sdb %d" % 32768, out)
        self.assertIn("REMOVED sdb", out)
        self.assertIn("BDEV-GONE", out)
        self.assertIn("HEALTHY", out)
        self.assertRegex(out, r"write: IOPS=[1-9]", "fio on target 0 did no I/O")
        # The removed target left the configuration; target 0 is intact.
        conf = d.call("framework_get_config", {"name": "vhost_scsi"})
        self.assertEqual([(e["method"], e["params"].get("scsi_target_num")) for e in conf],
                         [("vhost_create_scsi_controller", None),
                          ("vhost_scsi_controller_add_target", 0)])
        self.assertEqual(d.call("spdk_get_version")["version"][:6], "spur v")
        self.assertStopsCleanly(d)

    def test_resize_reaches_guest(self):
        """A bdev resize becomes a PARAM_CHANGE event (CAPACITY DATA HAS
        CHANGED): the guest's disk grows without a rescan by hand."""
        d = self.spur()
        d.call("bdev_null_create", {"name": "N0", "num_blocks": 16384, "block_size": 512})
        sock = self.controller(d, {0: "N0"})
        scenario = """
D=$(wait_disk 0) || exit 2
echo "SIZE0 $(cat /sys/block/$D/size)"
echo READY
i=0
while [ "$(cat /sys/block/$D/size)" = 16384 ]; do
    i=$((i + 1)); [ $i -gt 600 ] && exit 3
    sleep 0.1
done
echo "SIZE1 $(cat /sys/block/$D/size)"
dd if=/dev/$D of=/dev/null bs=1M skip=12 count=1 iflag=direct 2>/dev/null || exit 4
exit 0
"""
        g = self.boot(scenario, scsi_devices(sock)).start()
        self.wait_for(g, "READY")
        self.assertTrue(d.call("bdev_null_resize", {"name": "N0", "new_size": 16}))
        status, out = g.wait()
        self.assertEqual(status, 0, out[-4000:])
        self.assertIn("SIZE0 16384", out)
        self.assertIn("SIZE1 32768", out)
        self.assertStopsCleanly(d)

    def test_injected_error_seen_by_guest(self):
        """A media error from the error bdev reaches the guest as CHECK
        CONDITION / MEDIUM ERROR (sd logs the sense), the read fails, the
        next one works."""
        d = self.spur()
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 32768, "block_size": 512})
        d.call("bdev_error_create", {"base_name": "M0"})
        sock = self.controller(d, {0: "EE_M0"})
        scenario = """
D=$(wait_disk 0) || exit 2
dd if=/dev/$D of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null || exit 3
echo READY
i=0
while dd if=/dev/$D of=/dev/null bs=4k count=1 skip=100 iflag=direct 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 600 ] && exit 4
    sleep 0.1
done
echo "GUEST-SAW-ERROR"
dmesg | grep -i -E "sense key|medium error|unrecovered read|i/o error" | head -n 5
dmesg | grep -qi "medium error" || exit 5
dd if=/dev/$D of=/dev/null bs=4k count=1 skip=200 iflag=direct 2>/dev/null || exit 6
/usr/bin/sg_inq /dev/$D >/dev/null || exit 7
exit 0
"""
        g = self.boot(scenario, scsi_devices(sock)).start()
        self.wait_for(g, "READY")
        d.call("bdev_error_inject_error", {"name": "EE_M0", "io_type": "read",
                                           "error_type": "failure", "num": 1,
                                           "status": "media"})
        status, out = g.wait()
        self.assertEqual(status, 0, out[-4000:])
        self.assertIn("GUEST-SAW-ERROR", out)
        self.assertRegex(out, r"(?i)unrecovered read error")
        self.assertStopsCleanly(d)

    def test_lun_reset_with_io_in_flight(self):
        """sg_reset -d makes Linux send LOGICAL UNIT RESET on the control
        queue: answered FUNCTION COMPLETE when idle, and with reads held by
        a slow (delay) bdev, once they were aborted, each answered
        VIRTIO_SCSI_S_RESET, which Linux retries: the reads succeed. The
        disk keeps working (the reset's unit attention is handled by the
        guest)."""
        d = self.spur()
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 32768, "block_size": 512})
        d.call("bdev_delay_create", {"base_bdev_name": "M0", "name": "D0",
                                     "avg_read_latency": 3000000, "p99_read_latency": 3000000,
                                     "avg_write_latency": 0, "p99_write_latency": 0})
        sock = self.controller(d, {0: "D0"})
        scenario = """
D=$(wait_disk 0) || exit 2
/usr/bin/sg_reset -N -d /dev/$D || exit 3
echo "RESET-IDLE OK"
dd if=/dev/zero of=/dev/$D bs=4k count=1 oflag=direct 2>/dev/null || exit 4
dd if=/dev/$D of=/dev/null bs=4k count=4 iflag=direct 2>/dev/null &
DD=$!
sleep 1
/usr/bin/sg_reset -N -d /dev/$D
echo "RESET-BUSY $?"
wait $DD
echo "READ-IN-FLIGHT $?"
dd if=/dev/$D of=/dev/null bs=4k count=1 skip=8 iflag=direct 2>/dev/null || exit 5
/usr/bin/sg_inq /dev/$D > /dev/null || exit 6
dmesg | grep -E "BUG|Call Trace|Oops" && exit 7
echo HEALTHY
exit 0
"""
        status, out, g = self.run_guest(scenario, scsi_devices(sock))
        self.assertEqual(status, 0, out[-4000:])
        self.assertIn("RESET-IDLE OK", out)
        self.assertIn("RESET-BUSY 0", out)
        self.assertIn("READ-IN-FLIGHT 0", out)
        self.assertIn("HEALTHY", out)
        log = d.output()
        resets = [line for line in log.splitlines()
                  if "vscsi.0: LOGICAL UNIT RESET on target 0 LUN 0: response 0" in line]
        self.assertEqual(len(resets), 2, log[-3000:])
        self.assertStopsCleanly(d)


if __name__ == "__main__":
    unittest.main()
