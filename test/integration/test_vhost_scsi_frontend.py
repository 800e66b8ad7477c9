# SPDX-License-Identifier: BSD-3-Clause
"""vhost-user-scsi against the real daemon, driven by spur_vhost_perf --type
scsi (a frontend that shares no code with spur's backend; it sets up the
control and event queues, clears the power-on unit attention, reads the
capacity with READ CAPACITY(16) and issues READ(10)/WRITE(10)): data written
and read back on 512- and 4096-byte-block LUNs through direct chains,
indirect tables, several queues and large requests, next to a vhost-blk
controller under load in the same process; the tool's refusals (packed
rings, a missing target or LUN); a target removed under load; and a
shutdown with a frontend connected."""
import subprocess
import time
import unittest

from spurtest import VHOST_PERF, VhostTestCase, vhost_perf as perf, vhost_perf_total


class VhostScsiFrontendTest(VhostTestCase):
    TMP_PREFIX = "spur-vscsi-fe-"

    def wait_connected(self, ctrlr, want):
        """Until spur has seen the frontend connect (or hang up)."""
        deadline = time.time() + 10
        while bool(self.controllers()[ctrlr].get("connected")) != want:
            self.assertLess(time.time(), deadline, f"{ctrlr} connected != {want}")
            time.sleep(0.05)

    def malloc(self, name, blocks, block_size):
        self.d.call("bdev_malloc_create", {"name": name, "num_blocks": blocks,
                                           "block_size": block_size})

    def add_target(self, ctrlr, num, bdev):
        self.assertEqual(self.d.call("vhost_scsi_controller_add_target",
                                     {"ctrlr": ctrlr, "scsi_target_num": num,
                                      "bdev_name": bdev}), num)

    def assert_verified(self, status, out, total, what):
        self.assertEqual(status, 0, f"{what}:\n{out}")
        self.assertIn("verify: 0 mismatches", out, what)
        self.assertNotRegex(out, r"(?m)^errors ", what)
        self.assertGreater(total.get("IOPS", 0), 0, f"{what}:\n{out}")

    def test_data_through_scsi_next_to_blk(self):
        d = self.d
        self.malloc("M0", 65536, 512)
        self.malloc("M1", 8192, 4096)
        self.malloc("M2", 65536, 512)
        d.call("vhost_create_scsi_controller", {"ctrlr": "vscsi.0", "cpumask": "[0,1]"})
        self.add_target("vscsi.0", 0, "M0")
        self.add_target("vscsi.0", 2, "M1")
        d.call("vhost_create_blk_controller", {"ctrlr": "vblk.0", "dev_name": "M2"})

        # The first command of a new initiator meets the power-on unit attention.
        status, out, total = perf(self.sock("vscsi.0"), "--type", "scsi", "-t", 2, "--verify",
                                  "-q", 16)
        self.assert_verified(status, out, total, "first run")
        self.assertIn("65536 blocks of 512 bytes", out)
        self.assertIn("unit attention at start: 0x29/0x00", out)
        cases = [
            ["-q", 8, "-n", 2],
            ["-q", 8, "--indirect", "-o", "64k"],
            ["-q", 8, "--indirect", "-o", "12k", "--no-event-idx"],
            ["-q", 2, "-o", "1m", "-n", 3],
            ["--target", 2, "-q", 32, "-n", 2, "-o", "8k", "--kick", "always", "--no-irq"],
        ]
        for args in cases:
            status, out, total = perf(self.sock("vscsi.0"), "--type", "scsi", "-t", 1,
                                      "--verify", *args)
            self.assert_verified(status, out, total, str(args))
        self.assertIn("8192 blocks of 4096 bytes", out)
        for name in ("M0", "M1"):
            st = d.call("bdev_get_iostat", {"name": name})["bdevs"][0]
            self.assertGreater(st["num_write_ops"], 0, name)
            self.assertGreater(st["num_read_ops"], 0, name)

        # scsi and blk under load at once, in the same process.
        procs = [subprocess.Popen([VHOST_PERF, "-s", self.sock(c), "--type", t, "-t", "2",
                                   "--verify", "-q", "16", "-n", "2"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for c, t in (("vscsi.0", "scsi"), ("vblk.0", "blk"))]
        for p in procs:
            out = p.communicate(timeout=60)[0].decode(errors="replace")
            self.assert_verified(p.returncode, out, vhost_perf_total(out), "concurrent")

        # What the tool refuses, and what the target answers for a missing LUN.
        status, out, _ = perf(self.sock("vscsi.0"), "--type", "scsi", "--packed")
        self.assertNotEqual(status, 0)
        self.assertIn("--packed is not supported with --type scsi", out)
        status, out, _ = perf(self.sock("vscsi.0"), "--type", "scsi", "--target", 5)
        self.assertNotEqual(status, 0)
        self.assertIn("no such target", out)
        status, out, _ = perf(self.sock("vscsi.0"), "--type", "scsi", "--lun", 1)
        self.assertNotEqual(status, 0)
        self.assertIn("sense key 0x5 asc/ascq 0x25/0x00", out)   # LUN NOT SUPPORTED
        self.assertStopsCleanly(d)

    def test_remove_target_under_load(self):
        d = self.d
        self.malloc("M0", 65536, 512)
        d.call("vhost_create_scsi_controller", {"ctrlr": "vscsi.0"})
        self.add_target("vscsi.0", 0, "M0")
        p = subprocess.Popen([VHOST_PERF, "-s", self.sock("vscsi.0"), "--type", "scsi",
                              "-t", "4", "-q", "16", "-n", "2", "-w", "randwrite"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.wait_connected("vscsi.0", True)
        time.sleep(0.5)
        self.assertTrue(d.call("vhost_scsi_controller_remove_target",
                               {"ctrlr": "vscsi.0", "scsi_target_num": 0}))
        out = p.communicate(timeout=60)[0].decode(errors="replace")
        self.assertEqual(p.returncode, 1, out)          # later requests got BAD_TARGET
        self.assertRegex(out, r"errors [1-9]")
        self.assertIn("response 3", out)                 # VIRTIO_SCSI_S_BAD_TARGET
        self.assertEqual(self.controllers()["vscsi.0"]["backend_specific"]["scsi"], [])
        # The slot takes the bdev again and serves a new frontend.
        self.add_target("vscsi.0", 0, "M0")
        status, out, total = perf(self.sock("vscsi.0"), "--type", "scsi", "-t", 1, "--verify",
                                  "-q", 8)
        self.assert_verified(status, out, total, "after re-add")
        self.assertTrue(d.call("vhost_scsi_controller_remove_target",
                               {"ctrlr": "vscsi.0", "scsi_target_num": 0}))
        # The tool has exited; spur notices the hang-up on its own time.
        self.wait_connected("vscsi.0", False)
        self.assertTrue(d.call("vhost_delete_controller", {"ctrlr": "vscsi.0"}))
        self.assertStopsCleanly(d)

    def test_shutdown_with_frontend_connected(self):
        d = self.d
        self.malloc("M0", 65536, 512)
        d.call("vhost_create_scsi_controller", {"ctrlr": "vscsi.0", "cpumask": "[0,1]"})
        self.add_target("vscsi.0", 0, "M0")
        p = subprocess.Popen([VHOST_PERF, "-s", self.sock("vscsi.0"), "--type", "scsi",
                              "-t", "20", "-q", "32", "-n", "4", "--verify"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(1.5)
        self.assertStopsCleanly(d)
        out = p.communicate(timeout=30)[0].decode(errors="replace")
        self.assertIn("closed the connection", out)
        self.assertIn("verify: 0 mismatches", out)


if __name__ == "__main__":
    unittest.main()
