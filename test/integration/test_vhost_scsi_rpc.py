# SPDX-License-Identifier: BSD-3-Clause
"""vhost-user-scsi control plane against the real daemon (no VM; the guest
side is in test/e2e/test_vhost_scsi.py): the RPCs with SPDK's names and
their errors, target numbering, vhost_get_controllers' backend_specific
shape, delete refused while targets exist, save_config -> restart,
load_config rollback through the undo calls, and a bdev deleted under a
target removing the target."""
import os
import tempfile
import unittest

from spurtest import RpcError, SpurTestCase


class VhostScsiRpcTest(SpurTestCase):
    maxDiff = None
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="spur-vscsi-")
        self.d = self.start("-S", self.tmp, "-m", "[0,1]")

    def controllers(self):
        return {c["ctrlr"]: c for c in self.d.call("vhost_get_controllers")}

    def targets(self, name="vscsi.0"):
        return [(t["scsi_dev_num"], [lun["bdev_name"] for lun in t["luns"]])
                for t in self.controllers()[name]["backend_specific"]["scsi"]]

    def assert_error(self, code, method, params, *words):
        before = self.d.call("save_config")
        with self.assertRaises(RpcError) as e:
            self.d.call(method, params)
        self.assertEqual(e.exception.code, code, e.exception.message)
        for w in words:
            self.assertIn(w, e.exception.message)
        self.assertEqual(self.d.call("save_config"), before, "a failed call changed state")

    def malloc(self, *names):
        for n in names:
            self.d.call("bdev_malloc_create", {"name": n, "num_blocks": 8192, "block_size": 512})

    def test_rpcs_and_save_config(self):
        d = self.d
        self.malloc("M0", "M1", "M2")
        self.assertTrue(d.call("vhost_create_scsi_controller", {"ctrlr": "vscsi.0"}))
        self.assertTrue(d.call("vhost_create_scsi_controller",
                               {"ctrlr": "vscsi.1", "cpumask": "[1]", "delay": True}))
        self.assertTrue(d.call("vhost_start_scsi_controller", {"ctrlr": "vscsi.1"}))
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "vscsi.0")))
        add = {"ctrlr": "vscsi.0", "scsi_target_num": -1, "bdev_name": "M0"}
        self.assertEqual(d.call("vhost_scsi_controller_add_target", add), 0)
        self.assertEqual(d.call("vhost_scsi_controller_add_target", dict(add, bdev_name="M1")), 1)
        self.assertEqual(d.call("vhost_scsi_controller_add_target",
                                dict(add, scsi_target_num=5, bdev_name="M2")), 5)
        self.assertEqual(d.call("vhost_scsi_controller_add_target",
                                {"ctrlr": "vscsi.1", "scsi_target_num": 7, "bdev_name": "M2"}), 7)
        c = self.controllers()
        self.assertEqual(c["vscsi.1"]["cpumask"], "0x2")
        scsi = c["vscsi.0"]["backend_specific"]["scsi"]
        self.assertEqual([t["target_name"] for t in scsi], ["Target 0", "Target 1", "Target 5"])
        self.assertEqual([t["scsi_dev_num"] for t in scsi], [0, 1, 5])
        self.assertEqual(scsi[2]["luns"], [{"id": 0, "bdev_name": "M2"}])
        self.assertEqual(len({t["id"] for t in scsi}), 3, "target ids must be unique")

        self.assert_error(-17, "vhost_create_scsi_controller", {"ctrlr": "vscsi.0"}, "vscsi.0")
        self.assert_error(-32602, "vhost_create_scsi_controller", {"ctrlr": "a/b"}, "ctrlr")
        self.assert_error(-32602, "vhost_create_scsi_controller",
                          {"ctrlr": "vscsi.2", "cpumask": "0x4"}, "cpumask")
        self.assert_error(-19, "vhost_scsi_controller_add_target",
                          {"ctrlr": "nope", "scsi_target_num": 0, "bdev_name": "M0"}, "nope")
        self.assert_error(-19, "vhost_scsi_controller_add_target",
                          dict(add, bdev_name="nope"), "nope")
        self.assert_error(-17, "vhost_scsi_controller_add_target",
                          dict(add, scsi_target_num=5), "5")
        self.assert_error(-32602, "vhost_scsi_controller_add_target",
                          dict(add, scsi_target_num=8), "scsi_target_num")
        self.assert_error(-32602, "vhost_scsi_controller_add_target",
                          dict(add, scsi_target_num=-2), "scsi_target_num")
        self.assert_error(-19, "vhost_scsi_controller_remove_target",
                          {"ctrlr": "vscsi.0", "scsi_target_num": 3}, "3")
        self.assert_error(-16, "vhost_delete_controller", {"ctrlr": "vscsi.0"}, "remove them")
        # A blk controller is not a scsi one.
        d.call("vhost_create_blk_controller", {"ctrlr": "vblk.0", "dev_name": "M0"})
        self.assert_error(-22, "vhost_scsi_controller_add_target",
                          {"ctrlr": "vblk.0", "scsi_target_num": 0, "bdev_name": "M1"},
                          "not a vhost-scsi")
        self.assertEqual(set(self.controllers()), {"vscsi.0", "vscsi.1", "vblk.0"})

        self.assertTrue(d.call("vhost_controller_set_coalescing",
                               {"ctrlr": "vscsi.0", "delay_base_us": 30,
                                "iops_threshold": 50000}))
        conf = d.call("framework_get_config", {"name": "vhost_scsi"})
        self.assertEqual([(e["method"], e["params"]["ctrlr"],
                           e["params"].get("scsi_target_num"), e["params"].get("bdev_name"))
                          for e in conf],
                         [("vhost_create_scsi_controller", "vscsi.0", None, None),
                          ("vhost_scsi_controller_add_target", "vscsi.0", 0, "M0"),
                          ("vhost_scsi_controller_add_target", "vscsi.0", 1, "M1"),
                          ("vhost_scsi_controller_add_target", "vscsi.0", 5, "M2"),
                          ("vhost_controller_set_coalescing", "vscsi.0", None, None),
                          ("vhost_create_scsi_controller", "vscsi.1", None, None),
                          ("vhost_scsi_controller_add_target", "vscsi.1", 7, "M2")])
        self.assertEqual(conf[5]["params"]["cpumask"], "0x2")
        self.assertNotIn("cpumask", conf[0]["params"])

        # Restart from the saved configuration: same controllers and targets.
        saved = d.call("save_config")
        self.assertStopsCleanly(d)
        self.d = self.start("-S", self.tmp, "-m", "[0,1]", config=saved)
        self.assertEqual(self.targets(), [(0, ["M0"]), (1, ["M1"]), (5, ["M2"])])
        self.assertEqual(self.targets("vscsi.1"), [(7, ["M2"])])
        self.assertEqual(self.controllers()["vscsi.0"]["delay_base_us"], 30)

        # Remove every target, then the controller can go.
        for n in (0, 1, 5):
            self.assertTrue(self.d.call("vhost_scsi_controller_remove_target",
                                        {"ctrlr": "vscsi.0", "scsi_target_num": n}))
        self.assertEqual(self.targets(), [])
        self.assertTrue(self.d.call("vhost_delete_controller", {"ctrlr": "vscsi.0"}))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "vscsi.0")))
        self.assertEqual(set(self.controllers()), {"vscsi.1", "vblk.0"})
        self.assertStopsCleanly(self.d)

    def test_load_config_rolls_back(self):
        d = self.d
        self.malloc("M0", "M1")
        d.call("vhost_create_scsi_controller", {"ctrlr": "vscsi.0"})
        d.call("vhost_scsi_controller_add_target",
               {"ctrlr": "vscsi.0", "scsi_target_num": 0, "bdev_name": "M0"})
        before = d.call("save_config")
        config = {"subsystems": [{"subsystem": "vhost_scsi", "config": [
            {"method": "vhost_create_scsi_controller", "params": {"ctrlr": "vscsi.5"}},
            {"method": "vhost_scsi_controller_add_target",
             "params": {"ctrlr": "vscsi.5", "scsi_target_num": -1, "bdev_name": "M1"}},
            {"method": "vhost_scsi_controller_add_target",
             "params": {"ctrlr": "vscsi.0", "scsi_target_num": -1, "bdev_name": "M1"}},
            {"method": "vhost_scsi_controller_remove_target",
             "params": {"ctrlr": "vscsi.0", "scsi_target_num": 0}},
            {"method": "vhost_controller_set_coalescing",
             "params": {"ctrlr": "vscsi.0", "delay_base_us": 7, "iops_threshold": 5}},
            {"method": "vhost_scsi_controller_add_target",
             "params": {"ctrlr": "vscsi.0", "scsi_target_num": 6, "bdev_name": "nope"}}]}]}
        with self.assertRaises(RpcError):
            d.call("load_config", config)
        self.assertEqual(d.call("save_config"), before)
        self.assertEqual(set(self.controllers()), {"vscsi.0"})
        self.assertEqual(self.targets(), [(0, ["M0"])])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "vscsi.5")))
        self.assertStopsCleanly(d)

    def test_bdev_delete_removes_target(self):
        d = self.d
        self.malloc("M0", "M1")
        d.call("vhost_create_scsi_controller", {"ctrlr": "vscsi.0"})
        for n, b in ((2, "M0"), (4, "M1")):
            d.call("vhost_scsi_controller_add_target",
                   {"ctrlr": "vscsi.0", "scsi_target_num": n, "bdev_name": b})
        self.assertTrue(d.call("bdev_malloc_delete", {"name": "M0"}))
        for _ in range(100):
            if self.targets() == [(4, ["M1"])]:
                break
            import time
            time.sleep(0.05)
        self.assertEqual(self.targets(), [(4, ["M1"])])
        conf = d.call("framework_get_config", {"name": "vhost_scsi"})
        self.assertEqual([e["params"].get("scsi_target_num") for e in conf], [None, 4])
        # The slot can take a new bdev.
        self.malloc("M2")
        self.assertEqual(d.call("vhost_scsi_controller_add_target",
                                {"ctrlr": "vscsi.0", "scsi_target_num": 2,
                                 "bdev_name": "M2"}), 2)
        self.assertStopsCleanly(d)


if __name__ == "__main__":
    unittest.main()
