# SPDX-License-Identifier: BSD-3-Clause
"""vhost-user-blk against the real daemon, driven by spur_vhost_perf (a
frontend that shares no code with spur's backend): the RPCs and their
errors, save_config -> restart, load_config rollback, data written and read
back through split and packed rings, indirect tables, several queues and
large requests, hot-remove under load, a VM-attached delete refused, and a
shutdown with a frontend connected."""
import os
import re
import subprocess
import time
import unittest

from spurtest import VHOST_PERF, RpcError, VhostTestCase, vhost_perf as perf


class VhostBlkFrontendTest(VhostTestCase):
    TMP_PREFIX = "spur-vblk-"

    def assert_error(self, code, method, params, *words):
        before = self.d.call("save_config")
        with self.assertRaises(RpcError) as e:
            self.d.call(method, params)
        self.assertEqual(e.exception.code, code, e.exception.message)
        for w in words:
            self.assertIn(w, e.exception.message)
        self.assertEqual(self.d.call("save_config"), before, "a failed call changed state")

    def test_rpcs_and_save_config(self):
        d = self.d
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 8192, "block_size": 512})
        self.assertTrue(d.call("vhost_create_blk_controller", {"ctrlr": "vhost.0",
                                                               "dev_name": "M0"}))
        self.assertTrue(d.call("vhost_create_blk_controller",
                               {"ctrlr": "vhost.1", "dev_name": "M0", "readonly": True,
                                "packed_ring": True, "cpumask": "[1]",
                                "transport": "vhost_user_blk"}))
        self.assertTrue(os.path.exists(self.sock("vhost.0")))
        c = self.controllers()
        self.assertEqual(set(c), {"vhost.0", "vhost.1"})
        self.assertEqual(c["vhost.1"]["cpumask"], "0x2")
        self.assertEqual(c["vhost.0"]["backend_specific"]["block"],
                         {"readonly": False, "bdev": "M0", "packed_ring": False,
                          "transport": "vhost_user_blk"})
        self.assertTrue(c["vhost.1"]["backend_specific"]["block"]["readonly"])
        for k in ("delay_base_us", "iops_threshold", "socket"):
            self.assertIn(k, c["vhost.0"])
        self.assertEqual(len(d.call("vhost_get_controllers", {"name": "vhost.1"})), 1)

        self.assert_error(-19, "vhost_get_controllers", {"name": "nope"}, "nope")
        self.assert_error(-19, "vhost_create_blk_controller",
                          {"ctrlr": "vhost.2", "dev_name": "nope"}, "nope")
        self.assert_error(-17, "vhost_create_blk_controller",
                          {"ctrlr": "vhost.0", "dev_name": "M0"}, "vhost.0")
        self.assert_error(-32602, "vhost_create_blk_controller",
                          {"ctrlr": "vhost.2", "dev_name": "M0", "cpumask": "0x4"}, "cpumask")
        self.assert_error(-32602, "vhost_create_blk_controller",
                          {"ctrlr": "a/b", "dev_name": "M0"}, "ctrlr")
        self.assert_error(-32602, "vhost_create_blk_controller",
                          {"ctrlr": "vhost.2", "dev_name": "M0", "transport": "x"}, "transport")
        self.assert_error(-32602, "vhost_controller_set_coalescing",
                          {"ctrlr": "vhost.0", "delay_base_us": 10, "iops_threshold": 0},
                          "iops_threshold")
        self.assert_error(-19, "vhost_delete_controller", {"ctrlr": "nope"}, "nope")

        self.assertTrue(d.call("vhost_controller_set_coalescing",
                               {"ctrlr": "vhost.0", "delay_base_us": 40,
                                "iops_threshold": 90000}))
        conf = d.call("framework_get_config", {"name": "vhost_blk"})
        methods = [(e["method"], e["params"].get("ctrlr")) for e in conf]
        self.assertEqual(methods, [("vhost_create_blk_controller", "vhost.0"),
                                   ("vhost_controller_set_coalescing", "vhost.0"),
                                   ("vhost_create_blk_controller", "vhost.1")])
        self.assertNotIn("cpumask", conf[0]["params"])
        self.assertEqual(conf[2]["params"]["cpumask"], "0x2")

        # Restart from the saved configuration: same controllers.
        saved = d.call("save_config")
        self.assertStopsCleanly(d)
        self.d = self.start("-S", self.tmp, "-m", "[0,1]", config=saved)
        c = self.controllers()
        self.assertEqual(set(c), {"vhost.0", "vhost.1"})
        self.assertEqual(c["vhost.0"]["delay_base_us"], 40)
        self.assertTrue(c["vhost.1"]["backend_specific"]["block"]["packed_ring"])

        self.assertTrue(self.d.call("vhost_delete_controller", {"ctrlr": "vhost.1"}))
        self.assertFalse(os.path.exists(self.sock("vhost.1")))
        self.assertEqual(set(self.controllers()), {"vhost.0"})
        self.assertStopsCleanly(self.d)

    def test_load_config_rolls_back(self):
        d = self.d
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 8192, "block_size": 512})
        d.call("vhost_create_blk_controller", {"ctrlr": "vhost.0", "dev_name": "M0"})
        before = d.call("save_config")
        config = {"subsystems": [{"subsystem": "vhost_blk", "config": [
            {"method": "vhost_create_blk_controller",
             "params": {"ctrlr": "vhost.5", "dev_name": "M0"}},
            {"method": "vhost_controller_set_coalescing",
             "params": {"ctrlr": "vhost.0", "delay_base_us": 7, "iops_threshold": 5}},
            {"method": "vhost_delete_controller", "params": {"ctrlr": "vhost.0"}},
            {"method": "vhost_create_blk_controller",
             "params": {"ctrlr": "vhost.6", "dev_name": "nope"}}]}]}
        with self.assertRaises(RpcError):
            d.call("load_config", config)
        self.assertEqual(d.call("save_config"), before)
        self.assertEqual(set(self.controllers()), {"vhost.0"})
        self.assertFalse(os.path.exists(self.sock("vhost.5")))
        self.assertStopsCleanly(d)

    def test_data_through_every_ring_layout(self):
        d = self.d
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 65536, "block_size": 512})
        d.call("bdev_malloc_create", {"name": "M1", "num_blocks": 8192, "block_size": 4096})
        d.call("vhost_create_blk_controller", {"ctrlr": "vhost.0", "dev_name": "M0",
                                               "packed_ring": True})
        d.call("vhost_create_blk_controller", {"ctrlr": "vhost.1", "dev_name": "M1"})
        cases = [
            ("vhost.0", ["-q", 16]),
            ("vhost.0", ["-q", 8, "-n", 2, "--packed"]),
            ("vhost.0", ["-q", 8, "--indirect", "-o", "64k"]),
            ("vhost.0", ["-q", 8, "--packed", "--indirect", "-o", "12k", "--no-event-idx"]),
            ("vhost.0", ["-q", 2, "-o", "1m", "-n", 3]),
            ("vhost.1", ["-q", 32, "-n", 2, "-o", "8k", "--kick", "always", "--no-irq"]),
        ]
        for ctrlr, args in cases:
            status, out, total = perf(self.sock(ctrlr), "-t", 1, "--verify", *args)
            self.assertEqual(status, 0, f"{ctrlr} {args}:\n{out}")
            self.assertIn("verify: 0 mismatches", out, f"{ctrlr} {args}")
            self.assertGreater(total.get("IOPS", 0), 0, f"{ctrlr} {args}:\n{out}")
        st = d.call("bdev_get_iostat", {"name": "M0"})["bdevs"][0]
        self.assertGreater(st["num_write_ops"], 0)
        self.assertGreater(st["num_read_ops"], 0)
        # Read-only: reads work (writes are refused by the tool before it
        # sends, since the device offers VIRTIO_BLK_F_RO).
        d.call("vhost_create_blk_controller", {"ctrlr": "vhost.2", "dev_name": "M1",
                                               "readonly": True})
        status, out, _ = perf(self.sock("vhost.2"), "-t", 1, "-w", "randwrite")
        self.assertNotEqual(status, 0)
        self.assertIn("read-only", out)
        status, out, _ = perf(self.sock("vhost.2"), "-t", 1, "-w", "read", "-o", "4k")
        self.assertEqual(status, 0, out)
        self.assertStopsCleanly(d)

    def test_hot_remove_under_load_and_busy_delete(self):
        d = self.d
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 65536, "block_size": 512})
        d.call("vhost_create_blk_controller", {"ctrlr": "vhost.0", "dev_name": "M0"})
        p = subprocess.Popen([VHOST_PERF, "-s", self.sock("vhost.0"), "-t", "4", "-q", "16",
                              "-n", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while not self.controllers()["vhost.0"].get("connected") and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        self.assert_error(-16, "vhost_delete_controller", {"ctrlr": "vhost.0"},
                          "has a VM attached")
        self.assertTrue(d.call("bdev_malloc_delete", {"name": "M0"}))
        out = p.communicate(timeout=60)[0].decode(errors="replace")
        self.assertEqual(p.returncode, 1, out)          # its requests failed
        self.assertRegex(out, r"errors [1-9]")
        c = self.controllers()["vhost.0"]
        self.assertIsNone(c["backend_specific"]["block"]["bdev"])
        self.assertEqual(d.call("framework_get_config", {"name": "vhost_blk"}), [])
        # Still serving: a new frontend connects and sees an empty disk.
        status, out, _ = perf(self.sock("vhost.0"), "-t", 1, "-q", 1)
        self.assertIn("capacity 0 bytes", out)
        # spur notices the hang-up asynchronously: wait for it, bounded.
        deadline = time.time() + 10
        while self.controllers()["vhost.0"].get("connected"):
            self.assertLess(time.time(), deadline, "vhost.0 still connected")
            time.sleep(0.05)
        self.assertTrue(d.call("vhost_delete_controller", {"ctrlr": "vhost.0"}))
        self.assertStopsCleanly(d)

    def test_shutdown_with_frontend_connected(self):
        d = self.d
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 65536, "block_size": 512})
        d.call("vhost_create_blk_controller", {"ctrlr": "vhost.0", "dev_name": "M0",
                                               "cpumask": "[0,1]"})
        p = subprocess.Popen([VHOST_PERF, "-s", self.sock("vhost.0"), "-t", "20", "-q", "32",
                              "-n", "4", "--verify"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(1.5)
        self.assertStopsCleanly(d)
        out = p.communicate(timeout=30)[0].decode(errors="replace")
        self.assertIn("closed the connection", out)
        self.assertIn("verify: 0 mismatches", out)


if __name__ == "__main__":
    unittest.main()
