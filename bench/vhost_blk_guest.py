#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""fio inside a Linux guest (QEMU TCG) on a vhost-user-blk disk served by
spur and, in the same run, by qemu-storage-daemon; both on a null device,
4 KiB random reads at QD 1 and 32. Under TCG the guest's emulated CPU is
the bottleneck, so this shows the end-to-end path works at guest speed,
not the targets' capacity (bench/vhost_blk.sh measures that).

usage: bench/vhost_blk_guest.py [build-dir]
"""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "e2e"))
import guest  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
RUNTIME = int(os.environ.get("RUNTIME", "10"))
SCENARIO = """
for qd in 1 32; do
  fio --name=r --filename=/dev/vda --direct=1 --ioengine=libaio --rw=randread --bs=4k \\
      --iodepth=$qd --runtime=%d --time_based --output-format=terse > /tmp/f.out 2>&1
  echo "FIO qd$qd $(cut -d';' -f8 /tmp/f.out)"
done
""" % RUNTIME


def wait_sock(path):
    for _ in range(400):
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise RuntimeError("no socket " + path)


def run_guest(sock):
    g = guest.Guest(SCENARIO, devices=["-chardev", f"socket,id=c0,path={sock}",
                                       "-device", "vhost-user-blk-pci,chardev=c0,num-queues=1"])
    status, out = g.run(timeout=600)
    return {l.split()[1]: int(l.split()[2]) for l in out.splitlines() if l.startswith("FIO ")}


def main():
    tmp = tempfile.mkdtemp(prefix="spur-bench-")
    results = {}
    spur_args = os.environ.get("SPUR_ARGS", "").split()
    spur = subprocess.Popen([os.path.join(BUILD, "bin", "spur"), "-m", "[0]", "-r",
                             f"{tmp}/spur.sock", "-S", tmp] + spur_args, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_sock(f"{tmp}/spur.sock")
        ctl = [os.path.join(BUILD, "bin", "spurctl"), "-s", f"{tmp}/spur.sock"]
        subprocess.run(ctl + ["bdev_null_create", "-j",
                              '{"name":"N0","num_blocks":2097152,"block_size":512,'
                              '"zero_reads":false}'], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(ctl + ["vhost_create_blk_controller", "--ctrlr", "vhost.0",
                              "--dev_name", "N0"], check=True, stdout=subprocess.DEVNULL)
        results["spur"] = run_guest(f"{tmp}/vhost.0")
    finally:
        spur.terminate()
        spur.wait()
    qsd = subprocess.Popen(["taskset", "-c", "0", "qemu-storage-daemon", "--blockdev",
                            "driver=null-co,node-name=n0,size=1073741824,read-zeroes=off", "--export",
                            f"type=vhost-user-blk,id=e0,node-name=n0,addr.type=unix,"
                            f"addr.path={tmp}/qsd.sock,num-queues=1,writable=on"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_sock(f"{tmp}/qsd.sock")
        results["qemu-storage-daemon"] = run_guest(f"{tmp}/qsd.sock")
    finally:
        qsd.terminate()
        qsd.wait()
    print(f"# fio in a TCG guest, 1 vCPU, 4 KiB randread, {RUNTIME} s per run (guest-bound); "
          f"spur {' '.join(spur_args) or '(default adaptive polling)'}")
    for qd in ("qd1", "qd32"):
        s, q = results["spur"].get(qd, 0), results["qemu-storage-daemon"].get(qd, 0)
        print(f"{qd:5s} spur {s:7d} IOPS | qemu-storage-daemon {q:7d} IOPS | ratio "
              f"{s / q if q else 0:.2f}")


if __name__ == "__main__":
    main()
