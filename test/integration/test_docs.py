# SPDX-License-Identifier: BSD-3-Clause
"""docs/rpc.md is generated from the daemon's own method tables; it must
match what the binary publishes (regenerate with scripts/gen-rpc-doc.py)."""
import os
import subprocess
import sys
import unittest

from spurtest import BUILD_DIR, SOURCE_DIR


class RpcDocTest(unittest.TestCase):
    def test_rpc_reference_up_to_date(self):
        gen = subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "scripts", "gen-rpc-doc.py"),
                              BUILD_DIR], stdout=subprocess.PIPE, check=True, timeout=60)
        with open(os.path.join(SOURCE_DIR, "docs", "rpc.md")) as f:
            current = f.read()
        self.assertEqual(current, gen.stdout.decode(),
                         "docs/rpc.md is stale: run scripts/gen-rpc-doc.py build > docs/rpc.md")


if __name__ == "__main__":
    unittest.main()
