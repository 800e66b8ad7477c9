# SPDX-License-Identifier: BSD-3-Clause
"""JSON-RPC server against the real daemon: every error class, framing
(split, pipelined, batches), many clients, hostile input, idle clients."""
import json
import os
import socket
import threading
import time
import unittest

from spurtest import Client, RpcError, SpurTestCase


class RpcServerTest(SpurTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start("--rpc-timeout", "2")

    def tearDown(self):
        self.assertStopsCleanly(self.d)
        super().tearDown()

    def assert_alive(self):
        v = self.d.call("spdk_get_version")
        self.assertTrue(v["version"].startswith("spur v"))

    def test_version_shape(self):
        v = self.d.call("spdk_get_version")
        self.assertEqual(set(v["fields"]), {"major", "minor", "patch", "suffix"})

    def test_parse_error(self):
        c = self.d.client()
        c.send_raw(b'{"jsonrpc":"2.0","method":"spdk_get_version","id":1,}')
        r = c.recv()
        self.assertEqual(r["error"]["code"], -32700)
        self.assertIsNone(r["id"])
        self.assert_alive()

    def test_invalid_request(self):
        c = self.d.client()
        for bad in ({"jsonrpc": "2.0", "id": 1},  # no method
                    {"jsonrpc": "1.0", "method": "spdk_get_version", "id": 2},
                    {"jsonrpc": "2.0", "method": 5, "id": 3},
                    {"jsonrpc": "2.0", "method": "spdk_get_version", "id": [1]}):
            c.send_raw(json.dumps(bad).encode())
            r = c.recv()
            self.assertEqual(r["error"]["code"], -32600, bad)
        # An empty batch is an invalid request too.
        c.send_raw(b"[]")
        self.assertEqual(c.recv()["error"]["code"], -32600)
        self.assertEqual(c.call("spdk_get_version")["version"][:6], "spur v")

    def test_method_not_found(self):
        with self.assertRaises(RpcError) as e:
            self.d.call("no_such_method")
        self.assertEqual(e.exception.code, -32601)
        self.assertIn("no_such_method", e.exception.message)

    def test_invalid_params_named(self):
        cases = [
            ({"bogus": 1}, "bogus"),        # unknown parameter
            ({}, "flag"),                   # missing required
            ({"flag": 5}, "flag"),          # wrong type
        ]
        for params, field in cases:
            with self.assertRaises(RpcError) as e:
                self.d.call("log_set_flag", params)
            self.assertEqual(e.exception.code, -32602, params)
            self.assertIn(field, e.exception.message, params)
        with self.assertRaises(RpcError) as e:
            self.d.call("log_set_flag", [1, 2])
        self.assertEqual(e.exception.code, -32602)

    def test_method_specific_error(self):
        with self.assertRaises(RpcError) as e:
            self.d.call("framework_get_config", {"name": "nope"})
        self.assertNotIn(e.exception.code, (-32600, -32601, -32602, -32700))
        self.assertIn("nope", e.exception.message)

    def test_split_request_byte_by_byte(self):
        c = self.d.client()
        data = json.dumps(c.request("spdk_get_version", rid="split")).encode()
        for i in range(len(data)):
            c.send_raw(data[i:i + 1])
            time.sleep(0.001)
        r = c.recv()
        self.assertEqual(r["id"], "split")
        self.assertIn("result", r)

    def test_pipelined_requests_answered_in_order(self):
        c = self.d.client()
        reqs = []
        for i in range(50):
            method = "spdk_get_version" if i % 3 else "log_get_level"
            reqs.append(c.request(method, rid=i))
        c.send_raw(b"".join(json.dumps(r).encode() for r in reqs))
        for i in range(50):
            r = c.recv()
            self.assertEqual(r["id"], i)
            if i % 3 == 0:
                self.assertIsInstance(r["result"], str)
            else:
                self.assertIn("version", r["result"])

    def test_batch(self):
        c = self.d.client()
        batch = [c.request("log_get_level", rid=1),
                 {"jsonrpc": "2.0", "method": "log_get_level"},  # notification
                 c.request("no_such_method", rid=2)]
        c.send_raw(json.dumps(batch).encode())
        r = c.recv()
        self.assertIsInstance(r, list)
        self.assertEqual([x["id"] for x in r], [1, 2])
        self.assertIn("result", r[0])
        self.assertEqual(r[1]["error"]["code"], -32601)

    def test_hundred_concurrent_clients(self):
        clients = [self.d.client() for _ in range(100)]
        errors = []

        def work(c, n):
            try:
                for k in range(5):
                    r = c.call_raw("log_get_level")
                    if r.get("result") not in ("ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"):
                        errors.append(r)
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(c, i)) for i, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        for c in clients:
            c.close()

    def test_huge_garbage_request(self):
        """100 MiB that starts like JSON never completes: refused at the limit,
        the sender dropped, other clients served meanwhile, no crash."""
        c = self.d.client(timeout=60)
        other = self.d.client()
        chunk = b"[" + b"\"x\"," * (1 << 18)
        sent = 0
        closed = False
        try:
            while sent < 100 * 1024 * 1024:
                c.sock.sendall(chunk)
                sent += len(chunk)
                if sent % (16 << 20) < len(chunk):
                    self.assertEqual(other.call("log_get_level") in
                                     ("ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"), True)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        if not closed:
            r = c.recv(timeout=30)
            self.assertEqual(r["error"]["code"], -32700)
        self.assertLessEqual(sent, 100 * 1024 * 1024 + len(chunk))
        self.assert_alive()

    def test_binary_garbage(self):
        c = self.d.client()
        c.send_raw(os.urandom(4096).replace(b"{", b"\0").replace(b"[", b"\0") + b"\xff")
        try:
            r = c.recv(timeout=10)
            self.assertEqual(r["error"]["code"], -32700)
        except (ConnectionError, ConnectionResetError):
            pass
        self.assert_alive()

    def test_idle_client_dropped(self):
        idle = self.d.client()
        half = self.d.client()
        half.send_raw(b'{"jsonrpc":"2.0","method":"spdk_get')
        start = time.time()
        # Other clients are served while those two hang around.
        self.assert_alive()
        for sock in (idle.sock, half.sock):
            sock.settimeout(15)
            self.assertEqual(sock.recv(1), b"")  # closed by the server
        self.assertLess(time.time() - start, 12)
        self.assert_alive()

    def test_notification_gets_no_reply(self):
        c = self.d.client()
        c.send_raw(json.dumps({"jsonrpc": "2.0", "method": "log_get_level"}).encode())
        c.send_raw(json.dumps(c.request("spdk_get_version", rid=7)).encode())
        self.assertEqual(c.recv()["id"], 7)

    def test_rpc_get_methods(self):
        names = self.d.call("rpc_get_methods")
        for m in ("rpc_get_methods", "spdk_get_version", "framework_get_reactors",
                  "framework_get_subsystems", "framework_wait_init", "thread_get_stats",
                  "thread_get_pollers", "log_set_level", "log_get_level", "log_set_flag",
                  "log_clear_flag", "log_get_flags", "save_config", "load_config",
                  "spdk_kill_instance", "spur_get_method_schemas"):
            self.assertIn(m, names)
        current = self.d.call("rpc_get_methods", {"current": True})
        self.assertNotIn("framework_start_init", current)
        self.assertIn("framework_start_init", names)

    def test_method_schemas(self):
        s = self.d.call("spur_get_method_schemas", {"name": "log_set_flag"})
        self.assertEqual(len(s), 1)
        p = s[0]["params"]
        self.assertEqual([(x["name"], x["type"], x["required"]) for x in p],
                         [("flag", "string", True)])


if __name__ == "__main__":
    unittest.main()
