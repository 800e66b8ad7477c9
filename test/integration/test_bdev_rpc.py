# SPDX-License-Identifier: BSD-3-Clause
"""Block-device RPCs against the real daemon: every module's create/delete,
SPDK's bdev_get_bdevs fields, claims, bad parameters that change nothing,
iostat, QoS limits, save_config -> restart -> the same bdevs."""
import json
import os
import tempfile
import unittest

from spurtest import RpcError, SpurTestCase

SPDK_FIELDS = {"name", "aliases", "product_name", "block_size", "num_blocks", "uuid",
               "assigned_rate_limits", "claimed", "zoned", "supported_io_types",
               "driver_specific"}


class BdevRpcTest(SpurTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start()
        self.tmp = tempfile.mkdtemp(prefix="spur-bdev-")

    def tearDown(self):
        self.assertStopsCleanly(self.d)
        super().tearDown()

    def bdevs(self):
        return {b["name"]: b for b in self.d.call("bdev_get_bdevs")}

    def assert_error(self, code, method, params, *words):
        before = self.d.call("save_config")
        with self.assertRaises(RpcError) as e:
            self.d.call(method, params)
        self.assertEqual(e.exception.code, code, e.exception.message)
        for w in words:
            self.assertIn(w, e.exception.message)
        self.assertEqual(self.d.call("save_config"), before, "a failed call changed state")
        return e.exception

    def make_file(self, size, name="disk.img"):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.truncate(size)
        return path

    def test_malloc_lifecycle_and_fields(self):
        name = self.d.call("bdev_malloc_create", {"name": "Malloc0", "num_blocks": 2048,
                                                  "block_size": 4096})
        self.assertEqual(name, "Malloc0")
        b = self.d.call("bdev_get_bdevs", {"name": "Malloc0"})
        self.assertEqual(len(b), 1)
        b = b[0]
        self.assertTrue(SPDK_FIELDS <= set(b), SPDK_FIELDS - set(b))
        self.assertEqual((b["block_size"], b["num_blocks"]), (4096, 2048))
        self.assertRegex(b["uuid"], r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        self.assertFalse(b["claimed"])
        for t in ("read", "write", "unmap", "flush", "write_zeroes"):
            self.assertTrue(b["supported_io_types"][t], t)
        uuid = "5a2c6b4e-1f7d-4c3a-9b8e-0d1f2a3b4c5d"
        self.assertEqual(self.d.call("bdev_malloc_create", {"num_blocks": 16, "block_size": 512,
                                                            "uuid": uuid}), "Malloc1")
        self.assertEqual(self.bdevs()["Malloc1"]["uuid"], uuid)
        self.assertTrue(self.d.call("bdev_malloc_delete", {"name": "Malloc1"}))
        self.assertNotIn("Malloc1", self.bdevs())

    def test_malloc_bad_params_change_nothing(self):
        self.d.call("bdev_malloc_create", {"name": "M", "num_blocks": 16, "block_size": 512})
        self.assert_error(-32602, "bdev_malloc_create", {"name": "X", "block_size": 512},
                          "num_blocks")
        self.assert_error(-32602, "bdev_malloc_create",
                          {"name": "X", "num_blocks": "many", "block_size": 512}, "num_blocks")
        self.assert_error(-32602, "bdev_malloc_create",
                          {"name": "X", "num_blocks": 16, "block_size": 512, "colour": 1},
                          "colour")
        e = self.assert_error(-17, "bdev_malloc_create",
                              {"name": "M", "num_blocks": 16, "block_size": 512})
        self.assertIn("M", e.message)
        with self.assertRaises(RpcError) as e:
            self.d.call("bdev_malloc_create", {"name": "X", "num_blocks": 16, "block_size": 1000})
        self.assertIn("block_size", e.exception.message)
        self.assertNotIn("X", self.bdevs())
        self.assert_error(-19, "bdev_malloc_delete", {"name": "nope"}, "nope")
        self.assert_error(-19, "bdev_get_bdevs", {"name": "nope"}, "nope")

    def test_null_create_resize_delete(self):
        self.assertEqual(self.d.call("bdev_null_create", {"name": "Null0", "num_blocks": 1024,
                                                          "block_size": 512}), "Null0")
        self.assertTrue(self.d.call("bdev_null_resize", {"name": "Null0", "new_size": 2}))
        self.assertEqual(self.bdevs()["Null0"]["num_blocks"], 2 * 1024 * 1024 // 512)
        self.assert_error(-19, "bdev_null_resize", {"name": "nope", "new_size": 2})
        self.assertTrue(self.d.call("bdev_null_delete", {"name": "Null0"}))
        self.assertEqual(self.bdevs(), {})

    def test_passthru_claims_base(self):
        self.d.call("bdev_malloc_create", {"name": "Base", "num_blocks": 256, "block_size": 512})
        self.assertEqual(self.d.call("bdev_passthru_create", {"base_bdev_name": "Base",
                                                              "name": "PT0"}), "PT0")
        b = self.bdevs()
        self.assertTrue(b["Base"]["claimed"])
        self.assertEqual(b["PT0"]["num_blocks"], 256)
        with self.assertRaises(RpcError) as e:
            self.d.call("bdev_passthru_create", {"base_bdev_name": "Base", "name": "PT1"})
        self.assertIn("Base", e.exception.message)
        self.assertNotIn("PT1", self.bdevs())
        self.assert_error(-19, "bdev_passthru_create", {"base_bdev_name": "Nope", "name": "PT2"},
                          "Nope")
        self.assertTrue(self.d.call("bdev_passthru_delete", {"name": "PT0"}))
        self.assertFalse(self.bdevs()["Base"]["claimed"])

    def test_delay_and_error(self):
        self.d.call("bdev_malloc_create", {"name": "B1", "num_blocks": 256, "block_size": 512})
        self.d.call("bdev_malloc_create", {"name": "B2", "num_blocks": 256, "block_size": 512})
        self.assertEqual(self.d.call("bdev_delay_create", {
            "base_bdev_name": "B1", "name": "D0", "avg_read_latency": 100,
            "p99_read_latency": 200, "avg_write_latency": 100, "p99_write_latency": 300}), "D0")
        self.assertTrue(self.d.call("bdev_delay_update_latency", {
            "delay_bdev_name": "D0", "latency_type": "avg_read", "latency_us": 150}))
        self.assert_error(-32602, "bdev_delay_update_latency", {
            "delay_bdev_name": "D0", "latency_type": "sideways", "latency_us": 1}, "latency_type")
        self.assertTrue(self.d.call("bdev_error_create", {"base_name": "B2"}))
        self.assertIn("EE_B2", self.bdevs())
        self.assertTrue(self.d.call("bdev_error_inject_error", {
            "name": "EE_B2", "io_type": "write", "error_type": "failure", "num": 3}))
        self.assert_error(-32602, "bdev_error_inject_error", {
            "name": "EE_B2", "io_type": "teleport", "error_type": "failure"}, "io_type")
        self.assertTrue(self.d.call("bdev_delay_delete", {"name": "D0"}))
        self.assertTrue(self.d.call("bdev_error_delete", {"name": "EE_B2"}))
        self.assertEqual(set(self.bdevs()), {"B1", "B2"})

    def file_module(self, module):
        path = self.make_file(4 << 20)
        self.assertEqual(self.d.call(f"bdev_{module}_create", {"name": "F0", "filename": path,
                                                                "block_size": 512}), "F0")
        b = self.bdevs()["F0"]
        self.assertEqual(b["num_blocks"], (4 << 20) // 512)
        self.assertEqual(b["driver_specific"][module]["filename"], path)
        with open(path, "r+b") as f:
            f.truncate(8 << 20)
        self.assertTrue(self.d.call(f"bdev_{module}_rescan", {"name": "F0"}))
        self.assertEqual(self.bdevs()["F0"]["num_blocks"], (8 << 20) // 512)
        self.assert_error(-2, f"bdev_{module}_create",
                          {"name": "F1", "filename": os.path.join(self.tmp, "missing.img")},
                          "missing.img")
        odd = self.make_file(4096 + 100, "odd.img")
        with self.assertRaises(RpcError) as e:
            self.d.call(f"bdev_{module}_create", {"name": "F2", "filename": odd,
                                                  "block_size": 512})
        self.assertIn("odd.img", e.exception.message)
        self.assertNotIn("F2", self.bdevs())
        self.assertTrue(self.d.call(f"bdev_{module}_delete", {"name": "F0"}))
        self.assertEqual(self.bdevs(), {})

    def test_uring(self):
        self.file_module("uring")

    def test_aio(self):
        self.file_module("aio")

    def test_iostat_and_qos(self):
        self.d.call("bdev_malloc_create", {"name": "Q", "num_blocks": 256, "block_size": 512})
        st = self.d.call("bdev_get_iostat", {"name": "Q"})
        self.assertGreater(st["tick_rate"], 0)
        q = st["bdevs"][0]
        for k in ("name", "bytes_read", "num_read_ops", "bytes_written", "num_write_ops",
                  "bytes_unmapped", "num_unmap_ops", "read_latency_ticks", "write_latency_ticks"):
            self.assertIn(k, q)
        self.assertTrue(self.d.call("bdev_set_qos_limit", {"name": "Q", "rw_ios_per_sec": 20000,
                                                           "w_mbytes_per_sec": 10}))
        lim = self.bdevs()["Q"]["assigned_rate_limits"]
        self.assertEqual((lim["rw_ios_per_sec"], lim["w_mbytes_per_sec"]), (20000, 10))
        self.assertTrue(self.d.call("bdev_set_qos_limit", {"name": "Q", "rw_ios_per_sec": 0}))
        self.assertEqual(self.bdevs()["Q"]["assigned_rate_limits"]["rw_ios_per_sec"], 0)
        self.assert_error(-19, "bdev_set_qos_limit", {"name": "nope", "rw_ios_per_sec": 1000})

    def test_load_config_rolls_back_bdevs(self):
        bad = {"subsystems": [{"subsystem": "bdev", "config": [
            {"method": "bdev_malloc_create", "params": {"name": "R1", "num_blocks": 16,
                                                        "block_size": 512}},
            {"method": "bdev_passthru_create", "params": {"base_bdev_name": "Missing",
                                                          "name": "R2"}}]}]}
        with self.assertRaises(RpcError) as e:
            self.d.call("load_config", bad)
        self.assertIn("config[1]", e.exception.message)
        self.assertEqual(self.bdevs(), {})


class BdevPersistenceTest(SpurTestCase):
    def test_startup_options_applied_before_init(self):
        cfg = {"subsystems": [{"subsystem": "bdev", "config": [
            {"method": "bdev_malloc_create", "params": {"name": "M0", "num_blocks": 64,
                                                        "block_size": 512}},
            {"method": "bdev_set_options", "params": {"bdev_io_pool_size": 4096,
                                                      "bdev_io_cache_size": 64}}]}]}
        d = self.start(config=cfg)
        saved = d.call("save_config")
        entries = [e["method"] for s in saved["subsystems"] if s["subsystem"] == "bdev"
                   for e in s["config"]]
        self.assertIn("bdev_set_options", entries)
        self.assertStopsCleanly(d)
        d2 = self.start(config=saved)
        self.assertEqual(d2.call("save_config"), saved)
        self.assertStopsCleanly(d2)

    def test_save_restart_same_bdevs(self):
        tmp = tempfile.mkdtemp(prefix="spur-bdev-")
        path = os.path.join(tmp, "u.img")
        with open(path, "wb") as f:
            f.truncate(1 << 20)
        d = self.start()
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 128, "block_size": 512})
        d.call("bdev_null_create", {"name": "N0", "num_blocks": 1024, "block_size": 4096})
        d.call("bdev_uring_create", {"name": "U0", "filename": path, "block_size": 512})
        d.call("bdev_passthru_create", {"base_bdev_name": "M0", "name": "P0"})
        d.call("bdev_delay_create", {"base_bdev_name": "U0", "name": "D0", "avg_read_latency": 10,
                                     "p99_read_latency": 20, "avg_write_latency": 10,
                                     "p99_write_latency": 20})
        d.call("bdev_set_qos_limit", {"name": "N0", "rw_ios_per_sec": 5000})
        saved = d.call("save_config")
        before = {b["name"]: b for b in d.call("bdev_get_bdevs")}
        self.assertStopsCleanly(d)
        d2 = self.start(config=saved)
        self.assertEqual(d2.call("save_config"), saved)
        after = {b["name"]: b for b in d2.call("bdev_get_bdevs")}
        self.assertEqual(set(after), set(before))
        for n in before:
            for k in ("uuid", "num_blocks", "block_size", "claimed", "assigned_rate_limits"):
                self.assertEqual(after[n][k], before[n][k], (n, k))
        self.assertStopsCleanly(d2)


if __name__ == "__main__":
    unittest.main()


WRONG = {"string": 12345, "bool": "yes", "int32": "x", "uint32": -1, "int64": "x",
         "uint64": -1, "object": [1], "array": {"a": 1}, "number": "x"}
VALID = {"string": "Nope", "bool": True, "int32": 1, "uint32": 1, "int64": 1, "uint64": 1,
         "object": {}, "array": [], "number": 1}


class BdevParamsTest(SpurTestCase):
    """Every bdev method, driven from its published schema: each required
    parameter missing, each parameter of the wrong type, and an unknown
    parameter give -32602 naming the field, and change nothing."""

    def test_every_bdev_method_rejects_bad_params(self):
        d = self.start()
        d.call("bdev_malloc_create", {"name": "Keep", "num_blocks": 64, "block_size": 512})
        before = d.call("save_config")
        methods = [m for m in d.call("spur_get_method_schemas")
                   if m["name"].startswith("bdev_") and not m["raw_params"]]
        self.assertGreater(len(methods), 20)
        checked = 0
        for m in methods:
            params = m["params"]
            def valid(p):
                if p["type"] in ("int32", "uint32", "int64", "uint64") and "min" in p:
                    return p["min"]
                return VALID[p["type"]]
            base = {p["name"]: valid(p) for p in params if p["required"]}
            cases = [({**base, "no_such_param": 1}, "no_such_param")]
            for p in params:
                if p["required"]:
                    cases.append(({k: v for k, v in base.items() if k != p["name"]}, p["name"]))
                cases.append(({**base, p["name"]: WRONG[p["type"]]}, p["name"]))
            for call, field in cases:
                with self.assertRaises(RpcError, msg=(m["name"], call)) as e:
                    d.call(m["name"], call)
                self.assertEqual(e.exception.code, -32602, (m["name"], call, e.exception.message))
                self.assertIn(field, e.exception.message, (m["name"], call))
                checked += 1
        self.assertEqual(d.call("save_config"), before)
        self.assertGreater(checked, 100)
        self.assertStopsCleanly(d)

    def test_unknown_bdev_named(self):
        d = self.start()
        for method, params in (("bdev_malloc_delete", {"name": "Ghost"}),
                               ("bdev_null_delete", {"name": "Ghost"}),
                               ("bdev_uring_delete", {"name": "Ghost"}),
                               ("bdev_aio_delete", {"name": "Ghost"}),
                               ("bdev_passthru_delete", {"name": "Ghost"}),
                               ("bdev_delay_delete", {"name": "Ghost"}),
                               ("bdev_error_delete", {"name": "Ghost"}),
                               ("bdev_uring_rescan", {"name": "Ghost"}),
                               ("bdev_error_create", {"base_name": "Ghost"}),
                               ("bdev_delay_create", {"base_bdev_name": "Ghost", "name": "D",
                                                      "avg_read_latency": 1,
                                                      "p99_read_latency": 1,
                                                      "avg_write_latency": 1,
                                                      "p99_write_latency": 1}),
                               ("bdev_get_iostat", {"name": "Ghost"})):
            with self.assertRaises(RpcError, msg=method) as e:
                d.call(method, params)
            self.assertEqual(e.exception.code, -19, (method, e.exception.message))
            self.assertIn("Ghost", e.exception.message, method)
        self.assertEqual(d.call("bdev_get_bdevs"), [])
        self.assertStopsCleanly(d)
