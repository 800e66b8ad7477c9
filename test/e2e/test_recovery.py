# SPDX-License-Identifier: BSD-3-Clause
"""Online recovery end to end: a Linux guest runs fio with verification on a
spur vhost-blk disk while the test kills spur (SIGKILL at random moments,
then SIGTERM) and restarts it from its autosaved configuration. QEMU
reconnects (reconnect=1), spur replays what the inflight region says was in
flight, and the guest must see no error: fio's verify passes, the guest
kernel logs no I/O error, and the backing file holds what the guest wrote.
The stall (kill -> first completed guest I/O after the restart) is printed."""
import hashlib
import os
import random
import signal
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

import guest  # noqa: E402
from spurtest import Spur, SpurTestCase  # noqa: E402

FIO = """
echo READY
fio --name=rec --filename=/dev/vda --direct=1 --ioengine=libaio --iodepth=16 \\
    --rw=randwrite --bsrange=4k-64k --size=16M --numjobs={jobs} --offset_increment=16M \\
    --time_based --runtime={runtime} --verify=crc32c --do_verify=1 --verify_fatal=1 \\
    --verify_backlog=64 --group_reporting --output-format=terse > /tmp/fio.out 2>&1
st=$?
echo "FIO-STATUS $st"
cut -d';' -f1-12 /tmp/fio.out | head -n 2
dd if=/dev/vda bs=1M count={mib} iflag=direct 2>/dev/null | md5sum | sed 's/^/MD5 /'
if dmesg | grep -i -E "i/o error|blk_update_request|buffer i/o"; then exit 9; fi
exit $st
"""

STALL_GOAL_S = 1.5
# fio runs 45 s; a guest that has not finished long after is hung.
GUEST_WAIT_S = int(os.environ.get("SPUR_GUEST_WAIT_S", "600"))


class RecoveryTest(SpurTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="spur-rec-")
        self.cfg = os.path.join(self.tmp, "spur.json")
        self.guests = []
        self.stalls = []

    def tearDown(self):
        for g in self.guests:
            g.kill()
        super().tearDown()

    def spur(self):
        return self.start("-S", self.tmp, "-m", "[0,1]", "-c", self.cfg, "--config-autosave",
                          sock=os.path.join(self.tmp, "spur.sock"))

    def disk(self, d, name, size=64 << 20):
        path = os.path.join(self.tmp, name + ".img")
        with open(path, "wb") as f:
            f.truncate(size)
        d.call("bdev_uring_create", {"name": name, "filename": path, "block_size": 512})
        return path

    def writes(self, d, bdev):
        return d.call("bdev_get_iostat", {"name": bdev})["bdevs"][0]["num_write_ops"]

    def restart(self, d, sig, bdevs):
        """Kill or stop spur, start it again from the autosaved file, and
        return (new daemon, stall seconds until a guest write completed)."""
        t0 = time.time()
        if sig == signal.SIGKILL:
            d.kill()
        else:
            self.assertEqual(d.stop(sig), 0, d.output())
        d2 = self.spur()
        deadline = time.time() + 60
        while time.time() < deadline:
            if any(self.writes(d2, b) > 0 for b in bdevs):
                break
            time.sleep(0.01)
        stall = time.time() - t0
        self.assertLess(time.time(), deadline, "no guest I/O after the restart")
        self.stalls.append(stall)
        return d2

    def boot(self, sock, queues=2, packed=False):
        dev = f"vhost-user-blk-pci,chardev=c0,num-queues={queues}"
        if packed:
            dev += ",packed=on"
        g = guest.Guest(FIO.format(jobs=queues, runtime=45, mib=16 * queues),
                        devices=["-chardev", f"socket,id=c0,path={sock},reconnect=1",
                                 "-device", dev], smp=queues)
        self.guests.append(g)
        return g.start()

    def wait_ready(self, g):
        deadline = time.time() + 300
        while "READY" not in g.output():
            self.assertLess(time.time(), deadline, g.output()[-2000:])
            self.assertIsNone(g.proc.poll(), g.output()[-2000:])
            time.sleep(0.1)

    def check_guest(self, g, path, queues, d):
        try:
            status, out = g.wait(GUEST_WAIT_S)
        except AssertionError as e:
            # A hung guest: say what spur saw (its log and its queues).
            raise AssertionError(f"{e}\nspur log:\n{d.output()[-6000:]}\ncontrollers: "
                                 f"{d.call('vhost_get_controllers')}") from None
        self.assertEqual(status, 0, out[-4000:])
        self.assertIn("FIO-STATUS 0", out)
        md5 = [l.split()[1] for l in out.splitlines() if l.startswith("MD5 ")][0]
        with open(path, "rb") as f:
            self.assertEqual(hashlib.md5(f.read((16 * queues) << 20)).hexdigest(), md5,
                             "the backing file does not hold what the guest wrote")

    def kill_cycle(self, packed=False, vms=1):
        d = self.spur()
        rng = random.Random(int(os.environ.get("SPUR_TEST_SEED", time.time())))
        disks, socks = [], []
        for i in range(vms):
            bdev = f"U{i}"
            disks.append((bdev, self.disk(d, bdev)))
            d.call("vhost_create_blk_controller", {"ctrlr": f"vhost.{i}", "dev_name": bdev,
                                                   "packed_ring": packed})
            socks.append(os.path.join(self.tmp, f"vhost.{i}"))
        gs = [self.boot(s, packed=packed) for s in socks]
        for g in gs:
            self.wait_ready(g)
        for sig in (signal.SIGKILL, signal.SIGKILL, signal.SIGKILL, signal.SIGTERM):
            time.sleep(rng.uniform(2.0, 6.0))
            d = self.restart(d, sig, [b for b, _ in disks])
        for g, (_, path) in zip(gs, disks):
            self.check_guest(g, path, 2, d)
        print("\nstall after restart (s): " + " ".join("%.3f" % s for s in self.stalls),
              file=sys.stderr)
        self.assertStopsCleanly(d)

    def test_kill_restart_split(self):
        self.kill_cycle()

    def test_kill_restart_packed(self):
        self.kill_cycle(packed=True)

    def test_kill_restart_two_vms(self):
        self.kill_cycle(vms=2)

    def test_replay_of_a_write_in_flight(self):
        """Deterministic: a delay bdev holds every write for 3 s, so a write
        is in flight when spur is killed; the restarted spur must replay it
        from the inflight region (the guest's write completes, the data is
        on the file)."""
        d = self.spur()
        path = self.disk(d, "U0")
        d.call("bdev_delay_create", {"base_bdev_name": "U0", "name": "D0",
                                     "avg_read_latency": 10, "p99_read_latency": 10,
                                     "avg_write_latency": 3000000,
                                     "p99_write_latency": 3000000})
        d.call("vhost_create_blk_controller", {"ctrlr": "vhost.0", "dev_name": "D0"})
        scenario = """
echo READY
dd if=/dev/urandom of=/tmp/p bs=64k count=1 2>/dev/null
echo "MD5 $(md5sum /tmp/p | cut -d' ' -f1)"
echo WRITING
dd if=/tmp/p of=/dev/vda bs=64k seek=5 count=1 oflag=direct conv=fsync 2>/dev/null || exit 3
echo WRITTEN
dmesg | grep -i "i/o error" && exit 9
exit 0
"""
        g = guest.Guest(scenario, devices=["-chardev",
                                           f"socket,id=c0,path={self.tmp}/vhost.0,reconnect=1",
                                           "-device", "vhost-user-blk-pci,chardev=c0"])
        self.guests.append(g)
        g.start()
        deadline = time.time() + 300
        while "WRITING" not in g.output():
            self.assertLess(time.time(), deadline, g.output()[-2000:])
            time.sleep(0.05)
        # The write is now held by the delay bdev: wait until spur has it.
        while d.call("bdev_get_iostat", {"name": "D0"})["bdevs"][0]["queue_depth"] == 0:
            self.assertLess(time.time(), deadline)
            time.sleep(0.02)
        d.kill()
        # The restarted spur runs without the delay, from the autosaved config
        # minus nothing: the delay bdev comes back too, so make writes fast.
        d2 = self.spur()
        d2.call("bdev_delay_update_latency", {"delay_bdev_name": "D0",
                                              "latency_type": "avg_write", "latency_us": 10})
        d2.call("bdev_delay_update_latency", {"delay_bdev_name": "D0",
                                              "latency_type": "p99_write", "latency_us": 10})
        status, out = g.wait(300)
        self.assertEqual(status, 0, out[-3000:])
        self.assertIn("WRITTEN", out)
        self.assertIn("resubmitted", d2.output())
        md5 = [l.split()[1] for l in out.splitlines() if l.startswith("MD5 ")][0]
        with open(path, "rb") as f:
            f.seek(5 * 65536)
            self.assertEqual(hashlib.md5(f.read(65536)).hexdigest(), md5)
        self.assertStopsCleanly(d2)


if __name__ == "__main__":
    unittest.main()
