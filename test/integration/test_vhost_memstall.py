# SPDX-License-Identifier: BSD-3-Clause
"""Remapping a large guest's memory next to a busy controller, against the
real daemon, driven by spur_vhost_memstall (frontends that share no code with
spur): a small victim guest keeps reading on one controller while a sparse
128 GiB guest on a second controller of the same single core is remapped,
hot-unplugged and plugged, has a region removed and added, and reconnects.

What a user would check, not speed: the victim never saw an error and kept
completing I/O throughout (no silence longer than a generous bound while it
was polling), every memory-table operation was accepted, and once the large
guest is gone spur holds no mapping of its memory and its RSS is back where
it started; the unmapping ran on a core other than the reactor's."""
import os
import re
import subprocess
import tempfile
import time
import unittest

from spurtest import BUILD_DIR, SpurTestCase

MEMSTALL = os.path.join(BUILD_DIR, "bin", "spur_vhost_memstall")
ITERATIONS = 2
# "Did not hang": longest time the victim polled without a completion. The
# shared test machines are loaded, so this is far above any real figure.
MAX_STALL_US = 2_000_000


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def kib(value):
    return int(value.split()[0])


def unmap_thread_cpus(pid):
    """Cores spur's background unmap thread may run on (None: no such thread)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            if f.read().strip() != "vhost_unmap":
                continue
        st = proc_status(f"{pid}/task/{tid}")
        cpus = set()
        for part in st["Cpus_allowed_list"].split(","):
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
        return cpus
    return None


def big_mappings(pid):
    with open(f"/proc/{pid}/maps") as f:
        return [line for line in f if "spur_memstall_big" in line]


class VhostMemStallTest(SpurTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="spur-memstall-")
        self.d = self.start("-S", self.tmp, "-m", "[0]")
        self.d.call("bdev_null_create", {"name": "V", "num_blocks": 1 << 21, "block_size": 512,
                                         "zero_reads": False})
        self.d.call("bdev_null_create", {"name": "D", "num_blocks": 1 << 21, "block_size": 512})
        self.d.call("vhost_create_blk_controller", {"ctrlr": "vhost.0", "dev_name": "V"})
        self.d.call("vhost_create_blk_controller", {"ctrlr": "vhost.1", "dev_name": "D"})

    def run_tool(self, *args, timeout=600):
        p = subprocess.run([MEMSTALL, "--victim", os.path.join(self.tmp, "vhost.0"),
                            "--big", os.path.join(self.tmp, "vhost.1"),
                            "--spur-pid", str(self.d.proc.pid)] + [str(a) for a in args],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        return p.returncode, p.stdout.decode(errors="replace")

    def test_remap_128g_guest_beside_busy_controller(self):
        pid = self.d.proc.pid
        rss_before = kib(proc_status(pid)["VmRSS"])
        status, out = self.run_tool("--guest-size", "128g", "--regions", 8, "--touch", "64m",
                                    "-i", ITERATIONS, "-q", 8, "--settle-ms", 100,
                                    "--baseline-ms", 300)
        self.assertEqual(status, 0, out)

        result = re.search(r"^RESULT (.*)$", out, re.M)
        self.assertIsNotNone(result, out)
        w = result.group(1).split()
        r = {w[i]: float(w[i + 1]) for i in range(0, len(w) - 1, 2)}
        for key in ("status", "victim_failed", "victim_errors", "victim_lost", "ops_failed"):
            self.assertEqual(r[key], 0, f"{key}:\n{out}")

        # The victim completed I/O in every phase and was never silent for long.
        rows = {}
        for line in out.splitlines():
            m = re.match(r"^(baseline|disruptor_io|remap|unplug|plug|rem_mem_reg|add_mem_reg|"
                         r"disconnect|connect|after|disrupting) +([0-9]+\.[0-9]+ .*)$", line)
            f = m.group(2).split() if m else []
            if len(f) == 13:
                rows[m.group(1)] = {"ios": int(f[1]), "max_stall_us": float(f[8]),
                                    "errors": int(f[11])}
        for phase in ("baseline", "disruptor_io", "remap", "unplug", "plug", "rem_mem_reg",
                      "add_mem_reg", "disconnect", "connect", "after"):
            self.assertIn(phase, rows, out)
            self.assertGreater(rows[phase]["ios"], 0, f"{phase}:\n{out}")
            self.assertEqual(rows[phase]["errors"], 0, f"{phase}:\n{out}")
            self.assertLess(rows[phase]["max_stall_us"], MAX_STALL_US, f"{phase}:\n{out}")

        # Every memory-table operation ran ITERATIONS times (remap twice per round).
        expect = {"SET_MEM_TABLE (replace all)": 2 * ITERATIONS,
                  "SET_MEM_TABLE (unplug last)": ITERATIONS,
                  "SET_MEM_TABLE (plug last)": ITERATIONS,
                  "REM_MEM_REG": ITERATIONS, "ADD_MEM_REG": ITERATIONS,
                  "connect + set-up": ITERATIONS}
        for name, count in expect.items():
            m = re.search(re.escape(name) + r" +(\d+) +(\d+) ", out)
            self.assertIsNotNone(m, f"{name}:\n{out}")
            self.assertEqual((int(m.group(1)), int(m.group(2))), (count, 0), f"{name}:\n{out}")

        # spur mapped the large guest while it was there...
        m = re.search(r"^spur_mem touched .* big_guest_mappings (\d+)", out, re.M)
        self.assertIsNotNone(m, out)
        self.assertEqual(int(m.group(1)), 8, out)
        # ...and once it left (the tool has exited), nothing of it stays mapped.
        deadline = time.time() + 30
        while big_mappings(pid) and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(big_mappings(pid), [])
        st = proc_status(pid)
        self.assertLess(kib(st["RssShmem"]), 16 * 1024, st["RssShmem"])
        self.assertLess(kib(st["VmRSS"]), rss_before + 64 * 1024,
                        f"RSS {st['VmRSS']} (was {rss_before} kB)")

        # The unmapping ran off the reactor's core (core 0) when there is another.
        if len(os.sched_getaffinity(0)) > 1:
            cpus = unmap_thread_cpus(pid)
            self.assertIsNotNone(cpus, "no vhost_unmap thread")
            self.assertNotIn(0, cpus)

        # The controllers still serve: a second, short run works as well.
        status, out = self.run_tool("--guest-size", "1g", "--regions", 2, "--touch", "16m",
                                    "-i", 1, "--ops", "remap,reconnect", "--settle-ms", 50,
                                    "--baseline-ms", 100)
        self.assertEqual(status, 0, out)
        self.assertStopsCleanly(self.d)
        self.assertNotIn("ERROR", self.d.output())

    def test_one_region_guest(self):
        # One 128 GiB region: unplug and REM/ADD_MEM_REG need two, so they are skipped.
        status, out = self.run_tool("--guest-size", "128g", "--regions", 1, "--touch", "32m",
                                    "-i", 1, "-q", 1, "--settle-ms", 50, "--baseline-ms", 100)
        self.assertEqual(status, 0, out)
        self.assertIn("unplug skipped", out)
        self.assertIn("slots skipped", out)
        self.assertRegex(out, r"SET_MEM_TABLE \(replace all\) +2 +0 ")
        self.assertRegex(out, r"connect \+ set-up +1 +0 ")
        deadline = time.time() + 30
        while big_mappings(self.d.proc.pid) and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(big_mappings(self.d.proc.pid), [])
        self.assertStopsCleanly(self.d)


if __name__ == "__main__":
    unittest.main()
