# SPDX-License-Identifier: BSD-3-Clause
"""spurctl, the command-line client, against the real daemon."""
import json
import os
import unittest

from spurtest import SpurTestCase, spurctl


class SpurctlTest(SpurTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start()

    def tearDown(self):
        self.assertStopsCleanly(self.d)
        super().tearDown()

    def test_call_prints_indented_json(self):
        status, out, err = spurctl(self.d.sock, "spdk_get_version")
        self.assertEqual(status, 0, err)
        self.assertTrue(json.loads(out)["version"].startswith("spur v"))
        self.assertIn("\n  ", out)  # indented

    def test_typed_params(self):
        status, out, err = spurctl(self.d.sock, "log_set_flag", "--flag", "rpc")
        self.assertEqual((status, out.strip()), (0, "true"), err)
        status, out, err = spurctl(self.d.sock, "log_get_flags")
        self.assertTrue(json.loads(out)["rpc"])
        status, out, err = spurctl(self.d.sock, "rpc_get_methods", "--current")
        self.assertEqual(status, 0, err)
        self.assertIn("spdk_get_version", json.loads(out))

    def test_error_is_one_line_exit_1(self):
        status, out, err = spurctl(self.d.sock, "log_set_flag", "--flag", "bogus")
        self.assertEqual(status, 1)
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn("bogus", err)
        status, out, err = spurctl(self.d.sock, "no_such_method")
        self.assertEqual(status, 1)
        self.assertIn("-32601", err)

    def test_unknown_param_refused_before_sending(self):
        status, out, err = spurctl(self.d.sock, "log_set_flag", "--nope", "1")
        self.assertEqual(status, 1)
        self.assertIn("nope", err)

    def test_help(self):
        status, out, err = spurctl(self.d.sock, "-h")
        self.assertEqual(status, 0)
        self.assertIn("save_config", out)
        status, out, err = spurctl(self.d.sock, "log_set_flag", "-h")
        self.assertEqual(status, 0)
        self.assertIn("flag", out)
        self.assertIn("string", out)

    def test_save_and_load_config(self):
        spurctl(self.d.sock, "log_set_flag", "--flag", "thread")
        status, out, err = spurctl(self.d.sock, "save_config")
        self.assertEqual(status, 0, err)
        saved = json.loads(out)
        spurctl(self.d.sock, "log_clear_flag", "--flag", "thread")
        status, out, err = spurctl(self.d.sock, "load_config", input=json.dumps(saved).encode())
        self.assertEqual(status, 0, err)
        status, out, err = spurctl(self.d.sock, "log_get_flags")
        self.assertTrue(json.loads(out)["thread"])

    def test_cannot_connect(self):
        status, out, err = spurctl("/nonexistent.sock", "spdk_get_version")
        self.assertEqual(status, 1)
        self.assertIn("/nonexistent.sock", err)


if __name__ == "__main__":
    unittest.main()
