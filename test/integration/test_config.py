# SPDX-License-Identifier: BSD-3-Clause
"""Configuration files: -c errors stop start-up with one clear message and
exit 1; save_config -> restart with -c -> the same save_config; load_config
over RPC is all-or-nothing."""
import json
import os
import tempfile
import unittest

from spurtest import RpcError, SpurTestCase, run_spur


def write_tmp(text):
    fd, path = tempfile.mkstemp(prefix="spur-cfg-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class ConfigErrorsTest(SpurTestCase):
    def check_fails(self, text, *expected):
        path = write_tmp(text)
        try:
            status, out = run_spur("-c", path, "-r", path + ".sock")
        finally:
            os.unlink(path)
        self.assertEqual(status, 1, out)
        errors = [l for l in out.splitlines() if "ERROR" in l]
        self.assertEqual(len(errors), 1, out)
        for e in (os.path.basename(path),) + expected:
            self.assertIn(e, errors[0])
        self.assertFalse(os.path.exists(path + ".sock"))
        return errors[0]

    def test_syntax_error_names_line(self):
        self.check_fails('{"subsystems": [\n  {"subsystem": "x",}\n]}', "line 2")

    def test_not_an_object(self):
        self.check_fails('[1, 2]', "object")

    def test_subsystems_not_array(self):
        self.check_fails('{"subsystems": 3}', "subsystems")

    def test_unknown_subsystem(self):
        self.check_fails(json.dumps({"subsystems": [
            {"subsystem": "warp_drive", "config": [{"method": "x", "params": {}}]}]}),
            "warp_drive")

    def test_unknown_method_names_entry(self):
        cfg = {"subsystems": [{"subsystem": "log", "config": [
            {"method": "log_set_flag", "params": {"flag": "rpc"}},
            {"method": "no_such_method", "params": {}}]}]}
        line = self.check_fails(json.dumps(cfg), "no_such_method", "config[1]", "'log'")

    def test_invalid_params_names_field(self):
        cfg = {"subsystems": [{"subsystem": "log", "config": [
            {"method": "log_set_level", "params": {"level": 7}}]}]}
        self.check_fails(json.dumps(cfg), "log_set_level", "level", "config[0]")

    def test_failing_entry_names_reason(self):
        cfg = {"subsystems": [{"subsystem": "log", "config": [
            {"method": "log_set_flag", "params": {"flag": "no_such_flag"}}]}]}
        self.check_fails(json.dumps(cfg), "no_such_flag", "config[0]")

    def test_missing_file(self):
        status, out = run_spur("-c", "/nonexistent/spur.json", "-r", "/tmp/spur-missing.sock")
        self.assertEqual(status, 1)
        self.assertIn("/nonexistent/spur.json", out)

    def test_empty_foreign_subsystem_accepted(self):
        d = self.start(config={"subsystems": [{"subsystem": "accel", "config": []}]})
        self.assertStopsCleanly(d)


class ConfigRoundTripTest(SpurTestCase):
    def test_save_restart_same(self):
        cfg = {"subsystems": [{"subsystem": "log", "config": [
            {"method": "log_set_flag", "params": {"flag": "rpc"}},
            {"method": "log_set_level", "params": {"level": "INFO"}}]}]}
        d = self.start(config=cfg)
        saved = d.call("save_config")
        self.assertIn("subsystems", saved)
        names = [s["subsystem"] for s in saved["subsystems"]]
        self.assertEqual(names, [s["subsystem"] for s in d.call("framework_get_subsystems")])
        self.assertStopsCleanly(d)
        d2 = self.start(config=saved)
        self.assertEqual(d2.call("save_config"), saved)
        self.assertTrue(d2.call("log_get_flags")["rpc"])
        self.assertEqual(d2.call("log_get_level"), "INFO")
        self.assertStopsCleanly(d2)

    def test_default_config_starts(self):
        d = self.start("--default-config")
        self.assertIn("subsystems", d.call("save_config"))
        self.assertStopsCleanly(d)

    def test_load_config_rpc_all_or_nothing(self):
        d = self.start()
        flags_before = d.call("log_get_flags")
        bad = {"subsystems": [{"subsystem": "log", "config": [
            {"method": "log_set_flag", "params": {"flag": "rpc"}},
            {"method": "log_set_flag", "params": {"flag": "no_such_flag"}}]}]}
        with self.assertRaises(RpcError) as e:
            d.call("load_config", bad)
        self.assertIn("config[1]", e.exception.message)
        self.assertEqual(d.call("log_get_flags"), flags_before)
        good = {"subsystems": [{"subsystem": "log", "config": [
            {"method": "log_set_flag", "params": {"flag": "rpc"}}]}]}
        self.assertTrue(d.call("load_config", good))
        self.assertTrue(d.call("log_get_flags")["rpc"])
        self.assertStopsCleanly(d)


if __name__ == "__main__":
    unittest.main()
