# SPDX-License-Identifier: BSD-3-Clause
"""--config-autosave: every successful change rewrites the -c file
atomically before the change is acknowledged; a failed change writes
nothing; a restart (also after SIGKILL) comes back with the last state."""
import json
import os
import signal
import tempfile
import unittest

from spurtest import RpcError, SpurTestCase, run_spur


class AutosaveTest(SpurTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="spur-autosave-")
        self.path = os.path.join(self.dir, "spur.json")

    def saved(self):
        with open(self.path) as f:
            return json.load(f)

    def test_needs_config_file(self):
        status, out = run_spur("--config-autosave")
        self.assertEqual(status, 2)
        self.assertIn("-c", out)

    def test_changes_saved_atomically_and_restored_after_kill(self):
        d = self.start("-c", self.path, "--config-autosave")
        self.assertFalse(os.path.exists(self.path))  # missing file: start empty
        d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 64, "block_size": 512})
        # Acknowledged means on disk: read it right after the reply.
        self.assertEqual(self.saved(), d.call("save_config"))
        d.call("bdev_null_create", {"name": "N0", "num_blocks": 64, "block_size": 512})
        d.call("bdev_set_qos_limit", {"name": "N0", "rw_ios_per_sec": 3000})
        good = d.call("save_config")
        self.assertEqual(self.saved(), good)
        mtime = os.stat(self.path).st_mtime_ns
        with self.assertRaises(RpcError):
            d.call("bdev_malloc_create", {"name": "M0", "num_blocks": 64, "block_size": 512})
        self.assertEqual(os.stat(self.path).st_mtime_ns, mtime, "a failed change rewrote")
        self.assertEqual(sorted(os.listdir(self.dir)), ["spur.json"], "temporary file left")
        d.stop(signal.SIGKILL)
        d2 = self.start("-c", self.path, "--config-autosave")
        self.assertEqual(d2.call("save_config"), good)
        d2.call("bdev_malloc_delete", {"name": "M0"})
        self.assertNotIn("M0", json.dumps(self.saved()))
        self.assertStopsCleanly(d2)
        d3 = self.start("-c", self.path)
        self.assertEqual(sorted(b["name"] for b in d3.call("bdev_get_bdevs")), ["N0"])
        self.assertStopsCleanly(d3)


if __name__ == "__main__":
    unittest.main()
