# SPDX-License-Identifier: BSD-3-Clause
"""Helpers for integration tests: start the real spur binary, talk JSON-RPC
to it over its Unix socket from this (separate) process, stop it.

The build directory comes from SPUR_BUILD_DIR (set by meson), so the same
tests run against the normal and the ASan+UBSan builds.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BUILD_DIR = os.environ.get("SPUR_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SPUR = os.path.join(BUILD_DIR, "bin", "spur")
SPURCTL = os.path.join(BUILD_DIR, "bin", "spurctl")
SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message


class JsonReader:
    """Reads JSON values one at a time from a stream socket, keeping whatever
    follows a value (pipelined replies) for the next read."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.dec = json.JSONDecoder()

    def read(self, timeout=10.0):
        self.sock.settimeout(timeout)
        while True:
            text = self.buf.decode("utf-8", errors="replace")
            stripped = text.lstrip()
            if stripped:
                try:
                    value, end = self.dec.raw_decode(stripped)
                    consumed = len(text) - len(stripped) + end
                    self.buf = text[consumed:].encode()
                    return value
                except ValueError:
                    pass
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed before a full reply")
            self.buf += chunk


class Client:
    """One JSON-RPC connection."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.reader = JsonReader(self.sock)
        self.next_id = 1

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv(self, timeout=10.0):
        return self.reader.read(timeout)

    def request(self, method, params=None, rid=None):
        if rid is None:
            rid = self.next_id
            self.next_id += 1
        msg = {"jsonrpc": "2.0", "method": method, "id": rid}
        if params is not None:
            msg["params"] = params
        return msg

    def call_raw(self, method, params=None, timeout=10.0):
        self.send_raw(json.dumps(self.request(method, params)).encode())
        return self.recv(timeout)

    def call(self, method, params=None, timeout=10.0):
        reply = self.call_raw(method, params, timeout)
        if "error" in reply:
            raise RpcError(reply["error"]["code"], reply["error"]["message"])
        return reply["result"]


class Spur:
    """A spur daemon started for one test."""

    def __init__(self, *args, sock=None, wait=True, config=None, env=None):
        self.tmp = tempfile.mkdtemp(prefix="spur-test-")
        self.sock = sock or os.path.join(self.tmp, "spur.sock")
        argv = [SPUR, "-r", self.sock]
        if config is not None:
            path = os.path.join(self.tmp, "config.json")
            with open(path, "w") as f:
                f.write(config if isinstance(config, str) else json.dumps(config))
            argv += ["-c", path]
            self.config_path = path
        argv += list(args)
        self.log_path = os.path.join(self.tmp, "spur.log")
        self.log = open(self.log_path, "w+")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=20.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"spur exited with {self.proc.returncode}: {self.output()}")
            try:
                c = Client(self.sock, timeout=5)
                try:
                    c.call("framework_wait_init", timeout=15)
                    return
                finally:
                    c.close()
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.02)
        raise RuntimeError("spur did not become ready: " + self.output())

    def client(self, timeout=10.0):
        return Client(self.sock, timeout)

    def call(self, method, params=None, timeout=10.0):
        c = self.client(timeout)
        try:
            return c.call(method, params, timeout)
        finally:
            c.close()

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Signal spur and return its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("spur did not stop in time: " + self.output())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()


def run_spur(*args, timeout=30.0, input=None):
    """Run spur to completion (for start-up errors); returns (status, output)."""
    p = subprocess.run([SPUR] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout, input=input)
    return p.returncode, p.stdout.decode(errors="replace")


def spurctl(sock, *args, input=None, timeout=60.0):
    """Run spurctl; returns (status, stdout, stderr)."""
    p = subprocess.run([SPURCTL, "-s", sock] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, input=input, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


class SpurTestCase(unittest.TestCase):
    """Starts nothing by itself; tracks daemons so each test cleans up."""

    def setUp(self):
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.kill()

    def start(self, *args, **kw):
        d = Spur(*args, **kw)
        self.daemons.append(d)
        return d

    def assertStopsCleanly(self, d, sig=signal.SIGTERM):
        status = d.stop(sig)
        self.assertEqual(status, 0, "spur exit status %d, output:\n%s" % (status, d.output()))


BDEVPERF = os.path.join(BUILD_DIR, "bin", "spur_bdevperf")


def bdevperf(config, *args, timeout=120):
    """Run spur_bdevperf on a config (dict); returns (status, output, jobs)
    where jobs maps "Job"/"Total" lines to their key/value figures."""
    fd, path = tempfile.mkstemp(prefix="spur-perf-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(config, f)
    try:
        p = subprocess.run([BDEVPERF, "-c", path] + [str(a) for a in args],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    finally:
        os.unlink(path)
    out = p.stdout.decode(errors="replace")
    figures = []
    for line in out.splitlines():
        if line.startswith("Job:") or line.startswith("Total:"):
            words = line.split()
            vals = {}
            for i, w in enumerate(words):
                if w in ("IOPS", "MiB/s", "avg_lat_us", "p50_us", "p99_us", "p999_us",
                         "max_us", "errors") and i + 1 < len(words):
                    try:
                        vals[w] = float(words[i + 1])
                    except ValueError:
                        pass
            vals["kind"] = words[0].rstrip(":")
            figures.append(vals)
    return p.returncode, out, figures


VHOST_PERF = os.path.join(BUILD_DIR, "bin", "spur_vhost_perf")


def vhost_perf_total(out):
    """The key/value figures of spur_vhost_perf's last "IOPS ..." (total) line."""
    total = {}
    for line in out.splitlines():
        if line.startswith("IOPS "):
            w = line.split()
            total = {w[i]: float(w[i + 1]) for i in range(0, len(w) - 1, 2)}
    return total


def vhost_perf(sock, *args, timeout=120):
    """Run spur_vhost_perf (a vhost-user frontend sharing no code with spur's
    backend) on sock; returns (status, output, figures of the total line)."""
    p = subprocess.run([VHOST_PERF, "-s", sock] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    out = p.stdout.decode(errors="replace")
    return p.returncode, out, vhost_perf_total(out)


class VhostTestCase(SpurTestCase):
    """A spur on cores 0 and 1 with its vhost sockets in a fresh directory
    (TMP_PREFIX), removed after the test."""

    TMP_PREFIX = "spur-vhost-"

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix=self.TMP_PREFIX)
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.d = self.start("-S", self.tmp, "-m", "[0,1]")

    def sock(self, name):
        return os.path.join(self.tmp, name)

    def controllers(self):
        return {c["ctrlr"]: c for c in self.d.call("vhost_get_controllers")}


def bdev_config(*entries):
    """A config with these (method, params) entries in the bdev subsystem."""
    return {"subsystems": [{"subsystem": "bdev", "config": [
        {"method": m, "params": p} for m, p in entries]}]}
