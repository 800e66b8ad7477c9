# SPDX-License-Identifier: BSD-3-Clause
"""The daemon as a user runs it: options, signals, start-up states,
reactor/thread statistics and logging RPCs."""
import os
import signal
import socket
import time
import unittest

from spurtest import RpcError, Spur, SpurTestCase, run_spur


class OptionsTest(SpurTestCase):
    def test_unknown_option_prints_usage(self):
        status, out = run_spur("--no-such-option")
        self.assertEqual(status, 2)
        self.assertIn("usage: spur", out)

    def test_stray_argument(self):
        status, out = run_spur("extra")
        self.assertEqual(status, 2)

    def test_version_and_help(self):
        status, out = run_spur("--version")
        self.assertEqual(status, 0)
        self.assertRegex(out, r"^spur v\d+\.\d+\.\d+")
        status, out = run_spur("-h")
        self.assertEqual(status, 0)
        for opt in ("-c", "-r", "-m", "-S", "--poll-mode", "-L", "--syslog", "--wait-for-rpc"):
            self.assertIn(opt, out)

    def test_bad_values(self):
        for args in (["-m", "0xZZ"], ["-m", "[3-1]"], ["--poll-mode", "lazy"],
                     ["-S", "/nonexistent-dir"], ["-L", "no_such_component"]):
            status, out = run_spur(*args)
            self.assertEqual(status, 2, args)
            self.assertIn("spur:", out)

    def test_unavailable_core(self):
        status, out = run_spur("-m", "[%d]" % (os.cpu_count() + 5), "-r", "/tmp/spur-nocore.sock")
        self.assertEqual(status, 1)
        self.assertIn("core", out)


class LifecycleTest(SpurTestCase):
    def test_sigint_and_sigterm_stop_cleanly(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            d = self.start()
            self.assertTrue(os.path.exists(d.sock))
            self.assertStopsCleanly(d, sig)
            self.assertFalse(os.path.exists(d.sock), "socket file left behind")

    def test_kill_instance(self):
        d = self.start()
        self.assertTrue(d.call("spdk_kill_instance", {"sig_name": "SIGTERM"}))
        self.assertEqual(d.proc.wait(20), 0)
        with self.assertRaises(RpcError) as e:
            d2 = self.start()
            d2.call("spdk_kill_instance", {"sig_name": "SIGWHATEVER"})
        self.assertEqual(e.exception.code, -32602)

    def test_second_signal_forces_exit(self):
        # A stalled shutdown cannot be produced from outside yet, so check that
        # two signals in a row end the process promptly whatever state it is in.
        d = self.start()
        d.proc.send_signal(signal.SIGTERM)
        d.proc.send_signal(signal.SIGTERM)
        status = d.proc.wait(20)
        self.assertIn(status, (0, 1))

    def test_stale_socket_replaced_live_one_refused(self):
        d = self.start()
        path = d.sock
        d.kill()  # SIGKILL leaves the socket file behind
        self.assertTrue(os.path.exists(path))
        d2 = self.start(sock=path)
        self.assertEqual(d2.call("log_get_level") in ("NOTICE", "INFO", "DEBUG", "WARNING",
                                                       "ERROR"), True)
        status, out = run_spur("-r", path)
        self.assertEqual(status, 1)
        self.assertIn(path, out)
        self.assertStopsCleanly(d2)

    def test_wait_for_rpc(self):
        d = self.start("--wait-for-rpc", wait=False)
        deadline = time.time() + 20
        while not os.path.exists(d.sock) and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.05)
        c = d.client()
        current = c.call("rpc_get_methods", {"current": True})
        self.assertIn("framework_start_init", current)
        self.assertNotIn("save_config", current)
        with self.assertRaises(RpcError) as e:
            c.call("save_config")
        self.assertEqual(e.exception.code, -1)
        # framework_wait_init from another client is answered only after start.
        waiter = d.client()
        waiter.send_raw(b'{"jsonrpc":"2.0","method":"framework_wait_init","id":9}')
        waiter.sock.settimeout(0.3)
        with self.assertRaises(socket.timeout):
            waiter.sock.recv(1)
        self.assertTrue(c.call("framework_start_init"))
        self.assertEqual(waiter.recv()["result"], True)
        with self.assertRaises(RpcError):
            c.call("framework_start_init")
        self.assertIn("subsystems", c.call("save_config"))
        self.assertStopsCleanly(d)


class StatsTest(SpurTestCase):
    def test_reactors_threads_pollers(self):
        cores = "[0,1]" if os.cpu_count() >= 2 else "[0]"
        d = self.start("-m", cores)
        r = d.call("framework_get_reactors")
        self.assertGreater(r["tick_rate"], 0)
        self.assertEqual(r["pid"], d.proc.pid)
        self.assertEqual(len(r["reactors"]), 2 if cores == "[0,1]" else 1)
        self.assertEqual(sorted(x["lcore"] for x in r["reactors"]),
                         [0, 1] if cores == "[0,1]" else [0])
        names = [t["name"] for x in r["reactors"] for t in x["lw_threads"]]
        self.assertIn("app_thread", names)
        app_reactor = [x for x in r["reactors"] if any(t["name"] == "app_thread"
                                                       for t in x["lw_threads"])][0]
        self.assertEqual(app_reactor["lcore"], 0)
        s = d.call("thread_get_stats")
        app = [t for t in s["threads"] if t["name"] == "app_thread"][0]
        self.assertGreater(app["busy"] + app["idle"], 0)
        self.assertGreaterEqual(app["timed_pollers_count"], 1)
        p = d.call("thread_get_pollers")
        app = [t for t in p["threads"] if t["name"] == "app_thread"][0]
        timed = {x["name"]: x for x in app["timed_pollers"]}
        self.assertTrue(any(n.startswith("rpc") for n in timed), timed)
        # The RPC poller ran to serve these calls.
        before = max(x["run_count"] for n, x in timed.items() if n.startswith("rpc"))
        for _ in range(3):
            d.call("spdk_get_version")
        p = d.call("thread_get_pollers")
        app = [t for t in p["threads"] if t["name"] == "app_thread"][0]
        after = max(x["run_count"] for x in app["timed_pollers"] if x["name"].startswith("rpc"))
        self.assertGreater(after, before)
        self.assertStopsCleanly(d)

    def test_poll_modes_serve_rpc(self):
        for mode in ("busy", "adaptive", "interrupt"):
            d = self.start("--poll-mode", mode)
            self.assertIn("version", d.call("spdk_get_version"))
            r = d.call("framework_get_reactors")["reactors"][0]
            if mode == "busy":
                self.assertEqual(r["sleep_count"], 0)
            else:
                time.sleep(0.2)
                r = d.call("framework_get_reactors")["reactors"][0]
                self.assertGreater(r["sleep_count"], 0, mode)
            self.assertStopsCleanly(d)


class LogTest(SpurTestCase):
    def test_levels_and_flags(self):
        d = self.start("-L", "rpc")
        self.assertTrue(d.call("log_get_flags")["rpc"])
        self.assertFalse(d.call("log_get_flags")["thread"])
        self.assertTrue(d.call("log_set_level", {"level": "DEBUG"}))
        self.assertEqual(d.call("log_get_level"), "DEBUG")
        self.assertTrue(d.call("log_set_print_level", {"level": "WARNING"}))
        self.assertEqual(d.call("log_get_print_level"), "WARNING")
        with self.assertRaises(RpcError) as e:
            d.call("log_set_level", {"level": "LOUD"})
        self.assertEqual(e.exception.code, -32602)
        self.assertTrue(d.call("log_set_flag", {"flag": "all"}))
        self.assertTrue(all(d.call("log_get_flags").values()))
        self.assertTrue(d.call("log_clear_flag", {"flag": "thread"}))
        self.assertFalse(d.call("log_get_flags")["thread"])
        with self.assertRaises(RpcError) as e:
            d.call("log_set_flag", {"flag": "nonexistent"})
        self.assertIn("nonexistent", e.exception.message)
        self.assertStopsCleanly(d)

    def test_syslog_takes_output_off_stderr(self):
        d = self.start("--syslog", "-L", "rpc")
        d.call("spdk_get_version")
        self.assertStopsCleanly(d)
        self.assertNotIn("spur is ready", d.output())
        self.assertNotIn(" DEBUG ", d.output())

    def test_debug_flag_prints(self):
        d = self.start("-L", "rpc")
        d.call("spdk_get_version")
        self.assertStopsCleanly(d)
        debug = [l for l in d.output().splitlines() if " DEBUG rpc " in l]
        self.assertTrue(any("spdk_get_version" in l for l in debug), d.output())
        d2 = self.start()
        d2.call("spdk_get_version")
        self.assertStopsCleanly(d2)
        self.assertNotIn(" DEBUG ", d2.output())


if __name__ == "__main__":
    unittest.main()
