# SPDX-License-Identifier: BSD-3-Clause
"""A hostile vhost-user frontend against spur, with a healthy guest beside it.

spur serves two vhost-user-blk controllers: vhost.0, which spur_hostile_vhost
attacks one scenario at a time (malformed messages, memory tables, rings,
descriptor chains and virtio-blk requests; `spur_hostile_vhost --list`), and
vhost.1, on which spur_vhost_perf runs verified I/O run after run for the
whole test; and one vhost-scsi controller, vscsi.0 (target 0 on a malloc
bdev, target 1 on a delay bdev of about 1 s per I/O), which the scsi-*
scenarios attack (LUN addressing, request framing, data directions and
residuals, control and event queues, task management and target removal
with commands in flight; the removal scenario calls the RPCs itself). All
controllers share spur's poll groups.

After every attack: the tool says spur reacted exactly as expected (exit 0:
the failed REPLY_ACK, the disconnect, the error status in the used ring, the
stopped ring with NEEDS_RESET...); spur is alive and answers RPCs; its log
names the controller and the reason (for the scenarios that log); nothing
was logged against another controller and no sanitizer fired; a fresh,
well-behaved frontend on the attacked controller writes, reads back and
verifies data (spur_hostile_vhost --attack healthy / scsi-healthy); vscsi.0
still has its two targets; vhost.1 keeps completing I/O. At the end: every
vhost.1 run verified its data, vhost.0 passes spur_vhost_perf --verify, a
QEMU guest (Linux virtio-scsi driver) finds both SCSI targets of vscsi.0 and
writes and reads back data through them, spur holds no more file
descriptors and no guest memory mappings than before the attacks, and stops
cleanly on SIGTERM (exit 0; under the ASan build this also proves no leak or
UB).

HOSTILE_ATTACKS=name,name,... runs a subset (debugging).
"""
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

import guest  # noqa: E402
from spurtest import BUILD_DIR, SpurTestCase, vhost_perf  # noqa: E402

HOSTILE = os.path.join(BUILD_DIR, "test", "e2e", "spur_hostile_vhost")
ATTACKED, HEALTHY = "vhost.0", "vhost.1"
SCSI = "vscsi.0"             # the attacked vhost-scsi controller
SCSI_TARGETS = {0: "S0", 1: "D1"}
SLOW_US = 1000000            # latency of D1 (target 1): commands stay in flight
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
                       r"runtime error:")
GUEST_MAPPINGS = re.compile(r"memfd:(vhost_perf_guest|hostile|spur-inflight)")
LOG_WAIT = 5.0          # a log line written during teardown may come a little later
PROGRESS_WAIT = 10.0    # vhost.1 must complete more I/O within this after each attack


def controller_of(attack):
    return SCSI if attack.startswith("scsi-") else ATTACKED


# What the QEMU guest does at the end: find both SCSI targets, write and read back.
GUEST_SCRIPT = guest.SCSI_DISK_SH + """
D0=$(wait_disk 0 900) || exit 2
D1=$(wait_disk 1 900) || exit 3
dd if=/dev/urandom of=/tmp/p bs=64k count=16 2>/dev/null
dd if=/tmp/p of=/dev/$D0 bs=64k seek=8 oflag=direct conv=fsync 2>/dev/null || exit 4
A=$(md5sum /tmp/p | cut -d' ' -f1)
B=$(dd if=/dev/$D0 bs=64k skip=8 count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
[ "$A" = "$B" ] || exit 5
dd if=/tmp/p of=/dev/$D1 bs=64k count=1 oflag=direct conv=fsync 2>/dev/null || exit 6
C=$(dd if=/dev/$D1 bs=64k count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
E=$(head -c 65536 /tmp/p | md5sum | cut -d' ' -f1)
[ "$C" = "$E" ] || exit 7
echo "SECTORS $(cat /sys/block/$D0/size) $(cat /sys/block/$D1/size)"
exit 0
"""


def scenarios():
    """(name, substring of the log line that must name the attacked controller, or None)."""
    p = subprocess.run([HOSTILE, "--list"], stdout=subprocess.PIPE, check=True, timeout=30)
    result = []
    for line in p.stdout.decode().splitlines():
        name, log = line.split("\t")
        result.append((name, None if log == "-" else log))
    wanted = os.environ.get("HOSTILE_ATTACKS")
    if wanted:
        keep = set(wanted.split(","))
        result = [s for s in result if s[0] in keep]
    return result


class HealthyGuest(threading.Thread):
    """spur_vhost_perf --verify on one controller, run after run, until stopped."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock = sock
        self.stopping = threading.Event()
        self.runs = []

    def run(self):
        while not self.stopping.is_set():
            try:
                status, out, _ = vhost_perf(self.sock, "-t", 2, "-q", 8, "-n", 2, "--verify")
                self.runs.append((status, out))
            except subprocess.TimeoutExpired as e:
                self.runs.append((-1, f"spur_vhost_perf hung: {e}"))

    def stop(self):
        self.stopping.set()
        self.join(180)
        return not self.is_alive()

    def failures(self):
        bad = []
        for rc, out in self.runs:
            if rc != 0 or "verify: 0 mismatches" not in out or not re.search(
                    r"^IOPS [1-9]", out, re.M):
                bad.append(out)
        return bad


class VhostHostileTest(SpurTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="spur-hostile-")
        self.guest = None
        self.qemu = None

    def tearDown(self):
        if self.guest is not None:
            self.guest.stop()
        if self.qemu is not None:
            self.qemu.kill()
        super().tearDown()

    def sock(self, name):
        return os.path.join(self.tmp, name)

    # ---- helpers -----------------------------------------------------------------

    def tool(self, attack, timeout=180):
        argv = [HOSTILE, "-s", self.sock(controller_of(attack)), "--attack", attack]
        if attack.startswith("scsi-"):
            argv += ["--rpc", self.d.sock, "--ctrlr", SCSI, "--bdev", SCSI_TARGETS[1]]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        return p.returncode, p.stdout.decode(errors="replace").strip()

    def scsi_targets(self):
        for c in self.d.call("vhost_get_controllers"):
            if c["ctrlr"] == SCSI:
                return {t["scsi_dev_num"]: (t["luns"][0]["bdev_name"] if t["luns"] else None,
                                            t["removing"])
                        for t in c["backend_specific"]["scsi"]}
        return {}

    def restore_scsi_targets(self):
        """Both targets present and not removing; re-add one a failed scenario left out.
        Returns what was wrong, or None."""
        deadline = time.time() + 15
        while True:
            now = self.scsi_targets()
            if all(now.get(n) == (b, False) for n, b in SCSI_TARGETS.items()):
                return None
            if time.time() >= deadline:
                break
            time.sleep(0.1)
        for n, b in SCSI_TARGETS.items():
            if n not in now:
                self.d.call("vhost_scsi_controller_add_target",
                            {"ctrlr": SCSI, "scsi_target_num": n, "bdev_name": b})
        return f"{SCSI} targets after the attack: {now}"

    def alive(self, what):
        if self.d.proc.poll() is not None:
            self.fail(f"spur exited ({self.d.proc.returncode}) {what}:\n"
                      + self.d.output()[-6000:])
        names = {c["ctrlr"] for c in self.d.call("vhost_get_controllers")}
        self.assertEqual(names, {ATTACKED, HEALTHY, SCSI}, what)

    def healthy_ops(self):
        st = self.d.call("bdev_get_iostat", {"name": "M1"})["bdevs"][0]
        return st["num_read_ops"] + st["num_write_ops"]

    def wait_progress(self, before, what):
        deadline = time.time() + PROGRESS_WAIT
        while time.time() < deadline:
            now = self.healthy_ops()
            if now > before:
                return now
            time.sleep(0.02)
        self.fail(f"{HEALTHY} completed no I/O for {PROGRESS_WAIT} s {what}")

    def wait_log(self, offset, needle, ctrlr):
        deadline = time.time() + LOG_WAIT
        while True:
            new = self.d.output()[offset:]
            for line in new.splitlines():
                if needle in line and ctrlr in line:
                    return line
            if time.time() >= deadline:
                return None
            time.sleep(0.05)

    def spur_fds(self):
        return sorted(os.listdir(f"/proc/{self.d.proc.pid}/fd"),
                      key=lambda x: int(x))

    def fd_targets(self):
        targets = []
        for fd in self.spur_fds():
            try:
                targets.append(os.readlink(f"/proc/{self.d.proc.pid}/fd/{fd}"))
            except OSError:
                pass
        return targets

    def guest_mappings(self):
        with open(f"/proc/{self.d.proc.pid}/maps") as f:
            return [line for line in f if GUEST_MAPPINGS.search(line)]

    def wait_idle(self, baseline):
        """No session left, fds back to the baseline count, no guest memory mapped."""
        deadline = time.time() + 15
        while time.time() < deadline:
            conns = [c["connected"] for c in self.d.call("vhost_get_controllers")]
            # Let the RPC server notice that this call's connection closed.
            time.sleep(0.3)
            if (not any(conns) and len(self.spur_fds()) == baseline
                    and not self.guest_mappings()):
                return
        conns = {c["ctrlr"]: c["connected"] for c in self.d.call("vhost_get_controllers")}
        self.fail("spur did not return to its idle state after the attacks:\n"
                  f"frontends connected: {conns}\n"
                  f"file descriptors: {len(self.spur_fds())} (baseline {baseline}): "
                  f"{self.fd_targets()}\nguest mappings: {self.guest_mappings()}")

    # ---- the test ------------------------------------------------------------------

    def test_hostile_frontend(self):
        self.d = self.start("-S", self.tmp, "-m", "[0,1]")
        d = self.d
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 32768, "block_size": 512})
        d.call("bdev_malloc_create", {"name": "M1", "num_blocks": 32768, "block_size": 512})
        # Packed rings offered too, for the packed-ring scenarios; the others negotiate split.
        d.call("vhost_create_blk_controller", {"ctrlr": ATTACKED, "dev_name": "M0",
                                               "packed_ring": True})
        d.call("vhost_create_blk_controller", {"ctrlr": HEALTHY, "dev_name": "M1"})
        d.call("bdev_malloc_create", {"name": "S0", "num_blocks": 32768, "block_size": 512})
        d.call("bdev_malloc_create", {"name": "S1", "num_blocks": 32768, "block_size": 512})
        d.call("bdev_delay_create", {"base_bdev_name": "S1", "name": SCSI_TARGETS[1],
                                     "avg_read_latency": SLOW_US, "p99_read_latency": SLOW_US,
                                     "avg_write_latency": SLOW_US,
                                     "p99_write_latency": SLOW_US})
        d.call("vhost_create_scsi_controller", {"ctrlr": SCSI})
        for n, b in SCSI_TARGETS.items():
            d.call("vhost_scsi_controller_add_target",
                   {"ctrlr": SCSI, "scsi_target_num": n, "bdev_name": b})

        # Warm up the controllers (poll groups exist from here on): the baseline.
        rc, out = self.tool("healthy")
        self.assertEqual(rc, 0, out)
        rc, out = self.tool("scsi-healthy")
        self.assertEqual(rc, 0, out)
        status, out, _ = vhost_perf(self.sock(HEALTHY), "-t", 1, "-q", 8, "-n", 2, "--verify")
        self.assertEqual(status, 0, out)
        time.sleep(0.5)
        baseline = len(self.spur_fds())

        self.guest = HealthyGuest(self.sock(HEALTHY))
        self.guest.start()
        ops = self.wait_progress(self.healthy_ops(), "before the attacks")

        failures = []
        attacks = scenarios()
        self.assertGreater(len(attacks), 0)
        for name, log in attacks:
            ctrlr = controller_of(name)
            offset = len(d.output())
            rc, out = self.tool(name)
            print(out, flush=True)
            problems = []
            if rc != 0:
                problems.append(f"reaction: {out}")
            self.alive(f"after attack {name}")
            if log is not None and self.wait_log(offset, log, ctrlr) is None:
                problems.append(f"no log line naming {ctrlr} with '{log}'")
            if ctrlr == SCSI:
                wrong = self.restore_scsi_targets()
                if wrong:
                    problems.append(wrong)
            new = d.output()[offset:]
            for line in new.splitlines():
                for other in {ATTACKED, HEALTHY, SCSI} - {ctrlr}:
                    if other in line and "ERROR" in line:
                        problems.append(f"{other} disturbed: {line}")
            if SANITIZER.search(new):
                problems.append("sanitizer report:\n" + new[-6000:])
            rc, out = self.tool("scsi-healthy" if ctrlr == SCSI else "healthy")
            if rc != 0:
                problems.append(f"{ctrlr} no longer serves a good frontend: {out}")
            self.alive(f"after the healthy check following {name}")
            ops = self.wait_progress(ops, f"after attack {name}")
            if problems:
                failures.append(f"{name}:\n  " + "\n  ".join(problems))

        self.assertTrue(self.guest.stop(), "the healthy guest did not stop")
        bad = self.guest.failures()
        self.assertEqual(bad, [], f"{len(bad)} of {len(self.guest.runs)} runs on {HEALTHY} "
                         "failed:\n" + "\n".join(bad[:3]))
        self.assertGreater(len(self.guest.runs), 0)
        self.guest = None
        self.assertEqual(failures, [], f"{len(failures)} of {len(attacks)} attacks:\n"
                         + "\n".join(failures))

        # The attacked controller, by the independent frontend.
        status, out, _ = vhost_perf(self.sock(ATTACKED), "-t", 1, "--verify")
        self.assertEqual(status, 0, out)
        self.assertIn("verify: 0 mismatches", out)

        # The attacked scsi controller, by Linux's virtio-scsi driver in a QEMU guest.
        g = guest.Guest(GUEST_SCRIPT, devices=[
            "-chardev", f"socket,id=s0,path={self.sock(SCSI)}",
            "-device", "vhost-user-scsi-pci,chardev=s0,num_queues=2"])
        self.qemu = g
        status, console = g.run()
        g.log.close()
        self.assertEqual(status, 0, "guest on " + SCSI + ":\n" + console[-4000:])
        self.assertIn("SECTORS 32768 32768", console)
        self.qemu = None

        self.wait_idle(baseline)
        self.assertIsNone(SANITIZER.search(d.output()), d.output()[-6000:])
        self.assertStopsCleanly(d)
        self.assertIsNone(SANITIZER.search(d.output()), d.output()[-6000:])


if __name__ == "__main__":
    unittest.main()
