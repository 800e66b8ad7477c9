# SPDX-License-Identifier: BSD-3-Clause
"""Data integrity through the bdev layer with spur_bdevperf: every module
verifies patterns it wrote; a corrupting module is caught; bytes written
through uring/aio and flushed are on the file, checked by this (separate)
process; QoS holds the measured rate within 5% of the limit."""
import os
import struct
import tempfile
import unittest

from spurtest import SpurTestCase, bdev_config, bdevperf

MALLOC = ("bdev_malloc_create", {"name": "M0", "num_blocks": 16384, "block_size": 512})


class BdevDataTest(SpurTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="spur-data-")

    def file(self, size=16 << 20, name="disk.img"):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.truncate(size)
        return path

    def verify(self, config, bdev, *extra):
        status, out, figs = bdevperf(config, "-b", bdev, "-w", "verify", "-q", 16, "-o", "4096",
                                     "-t", 1, *extra)
        self.assertEqual(status, 0, out)
        total = [f for f in figs if f["kind"] == "Total"][0]
        self.assertGreater(total["IOPS"], 0, out)
        return out

    def test_verify_malloc(self):
        self.verify(bdev_config(MALLOC), "M0")

    def test_verify_uring_and_aio(self):
        for module in ("uring", "aio"):
            path = self.file(name=module + ".img")
            self.verify(bdev_config((f"bdev_{module}_create",
                                     {"name": "F0", "filename": path, "block_size": 512})), "F0")

    def test_verify_stacked(self):
        cfg = bdev_config(MALLOC, ("bdev_passthru_create", {"base_bdev_name": "M0", "name": "P0"}),
                          ("bdev_delay_create", {"base_bdev_name": "P0", "name": "D0",
                                                 "avg_read_latency": 20, "p99_read_latency": 50,
                                                 "avg_write_latency": 20, "p99_write_latency": 50}),
                          ("bdev_error_create", {"base_name": "D0"}))
        self.verify(cfg, "EE_D0")

    def test_verify_with_splitting_and_bouncing(self):
        # 128 KiB I/O on a 4 KiB-block bdev; the layer splits by the module's limits.
        cfg = bdev_config(("bdev_malloc_create", {"name": "M4", "num_blocks": 8192,
                                                  "block_size": 4096}))
        status, out, figs = bdevperf(cfg, "-b", "M4", "-w", "verify", "-q", 8, "-o", "128k",
                                     "-t", 1)
        self.assertEqual(status, 0, out)

    def test_corrupting_module_is_caught(self):
        cfg = bdev_config(MALLOC, ("bdev_error_create", {"base_name": "M0"}),
                          ("bdev_error_inject_error", {"name": "EE_M0", "io_type": "read",
                                                       "error_type": "corrupt_data", "num": 1,
                                                       "corrupt_offset": 100,
                                                       "corrupt_value": 0x5a}))
        status, out, figs = bdevperf(cfg, "-b", "EE_M0", "-w", "verify", "-q", 4, "-o", "4096",
                                     "-t", 1)
        self.assertEqual(status, 1, out)
        self.assertIn("mismatch", out.lower())

    def test_injected_failure_is_reported(self):
        cfg = bdev_config(MALLOC, ("bdev_error_create", {"base_name": "M0"}),
                          ("bdev_error_inject_error", {"name": "EE_M0", "io_type": "write",
                                                       "error_type": "failure", "num": 5}))
        status, out, figs = bdevperf(cfg, "-b", "EE_M0", "-w", "randwrite", "-q", 4, "-o", "4096",
                                     "-t", 1)
        self.assertEqual(status, 1, out)
        total = [f for f in figs if f["kind"] == "Total"][0]
        self.assertEqual(total["errors"], 5, out)

    def check_pattern_on_file(self, module):
        size = 4 << 20
        path = self.file(size, module + "-pattern.img")
        seed = 0x2a
        cfg = bdev_config((f"bdev_{module}_create", {"name": "F0", "filename": path,
                                                     "block_size": 512}))
        status, out, figs = bdevperf(cfg, "-b", "F0", "-w", "write", "--once", "--pattern", seed,
                                     "--flush-at-end", "-q", 8, "-o", "64k", "-t", 30)
        self.assertEqual(status, 0, out)
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(len(data), size)
        words = struct.unpack("<%dQ" % (size // 8), data)
        bad = [i for i, w in enumerate(words) if w != ((seed << 48) ^ i)]
        self.assertEqual(bad[:5], [], "first bad word offsets: %s" % [b * 8 for b in bad[:5]])

    def test_uring_bytes_on_file(self):
        self.check_pattern_on_file("uring")

    def test_aio_bytes_on_file(self):
        self.check_pattern_on_file("aio")

    def test_qos_rate_within_5_percent(self):
        cfg = bdev_config(("bdev_null_create", {"name": "N0", "num_blocks": 262144,
                                                "block_size": 512}),
                          ("bdev_set_qos_limit", {"name": "N0", "rw_ios_per_sec": 20000}))
        status, out, figs = bdevperf(cfg, "-b", "N0", "-w", "randread", "-q", 32, "-o", "4096",
                                     "-t", 3)
        self.assertEqual(status, 0, out)
        iops = [f for f in figs if f["kind"] == "Total"][0]["IOPS"]
        self.assertLess(abs(iops - 20000) / 20000, 0.05, out)
        cfg = bdev_config(("bdev_null_create", {"name": "N0", "num_blocks": 262144,
                                                "block_size": 512}),
                          ("bdev_set_qos_limit", {"name": "N0", "rw_mbytes_per_sec": 40}))
        status, out, figs = bdevperf(cfg, "-b", "N0", "-w", "randread", "-q", 32, "-o", "65536",
                                     "-t", 3)
        self.assertEqual(status, 0, out)
        mibs = [f for f in figs if f["kind"] == "Total"][0]["MiB/s"]
        self.assertLess(abs(mibs - 40) / 40, 0.05, out)


if __name__ == "__main__":
    unittest.main()
