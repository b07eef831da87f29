"""CPU and page faults per request of the Python worker alone (crates/crucible-exec/src/python/
zygote.py), driven through its protocol with the 164 HumanEval canonical solutions and their
tests (`check(entry_point)` code mode, as `crucible score` sends them), with no executor around
it: no cgroups, no seccomp, no Rust. It runs the worker as PID 1 of a new PID and mount namespace
with a private /tmp (as in the sandbox), so it needs root and `unshare`.

Usage: python3 bench/judge/zygote_cpu.py [ZYGOTE] [ROUNDS]
  ZYGOTE defaults to the shipped zygote.py; ROUNDS (default 1) passes over the 164 tasks.
Environment: DATA (benchmark data directory, default /work/shared/data); TRUSTED=1 runs the
worker with `--trusted` (one long-lived driver, one fork per request).

Prints the requests passed, wall time, and the worker's CPU (user, system) and minor page
faults per request: everything the worker's processes used, reaped through `unshare`.
"""
import gzip
import json
import os
import resource
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ZYGOTE = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(
    HERE, "..", "..", "crates", "crucible-exec", "src", "python", "zygote.py")
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 1
DATA = os.environ.get("DATA", "/work/shared/data")


def frame(obj):
    data = json.dumps(obj).encode()
    return struct.pack("<I", len(data)) + data


def main():
    with gzip.open(os.path.join(DATA, "humaneval", "HumanEval.jsonl.gz"), "rt") as f:
        problems = [json.loads(line) for line in f]
    # The zygote wipes its /tmp: give it a private one, and make it PID 1 as in the sandbox.
    worker = subprocess.Popen(
        ["unshare", "-m", "-p", "-f", "--mount-proc", "sh", "-c",
         'mount -t tmpfs none /tmp && exec /usr/bin/python3 -I -B "$0" "$@"', ZYGOTE]
        + (["--trusted"] if os.environ.get("TRUSTED") else []),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8"})
    if worker.stdout.read(6) != b"READY\n":
        sys.exit("the worker did not start")

    def read_frame():
        (n,) = struct.unpack("<I", worker.stdout.read(4))
        return json.loads(worker.stdout.read(n))

    limits = dict(cpu_ms=3000, wall_ms=10000, output_bytes=1 << 20, file_size_bytes=1 << 20,
                  open_files=64)
    passed = requests = 0
    start = time.monotonic()
    for _ in range(ROUNDS):
        for p in problems:
            ready = read_frame()
            assert "ready" in ready, ready
            program = dict(mode="code", source=p["prompt"] + p["canonical_solution"], stdin="",
                           memory_bytes=512 << 20, address_space=True, **limits)
            tests = dict(mode="code", tests="%s\n\ncheck(%s)\n" % (p["test"], p["entry_point"]),
                         entry_point=p["entry_point"], cases=[], atol=0.0)
            handler = dict(mode="code", cgroup_watch=True, tests=tests, **limits)
            worker.stdin.write(b"G" + frame(program) + frame(handler))
            worker.stdin.flush()
            reply = read_frame()
            assert "reply" in reply, reply
            report = [json.loads(line) for line in reply["reply"]["report"].splitlines()]
            passed += any("done" in r for r in report) and all(
                r.get("status", "passed") == "passed" for r in report)
            requests += 1
            end = read_frame()
            assert end.get("end") == 0, end
    wall = time.monotonic() - start
    worker.stdin.close()
    worker.wait()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("load average %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print("passed %d of %d; wall %.2f s; worker CPU %.2f s (user %.2f, system %.2f): %.2f ms "
          "and %d minor page faults per request" % (
              passed, requests, wall, usage.ru_utime + usage.ru_stime, usage.ru_utime,
              usage.ru_stime, (usage.ru_utime + usage.ru_stime) * 1000 / requests,
              usage.ru_minflt // requests))


if __name__ == "__main__":
    main()
