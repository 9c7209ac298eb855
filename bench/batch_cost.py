#!/usr/bin/env python3
"""batch_cost.py: what one `check` costs a bot through `tokq batch` against
spawning `tokq check` for it, as a Python bot would do either.

    bench/batch_cost.py [--n N] [--build DIR] [--json]

Starts a tokqd of DIR (default build/, or $TOKQ_BUILD) on a temporary
socket and database with a small rule set, then times N checks each way:

  spawn   subprocess.run([tokq, --json, check ...]) with its output
          captured and parsed: fork, exec, connect, one request, exit,
          wait: what a bot pays per call without a batch;
  batch   one line written to a long-lived `tokq batch` and its answer
          read back and parsed: what it pays with one;
  pipe    the same line through a long-lived `cat`: the floor of any
          co-process (two pipe hops, no work), for scale;
  ahead   100 such lines written to the batch at once, then their 100
          answers read: the time per check when calls are in flight
          together, as AsyncTokq and the Node library send them.

Besides time, the CPU that the tokq side burns per check: the spawned
processes' user + system time (getrusage of the children), against the
long-lived batch process's (from /proc/PID/stat) over its calls.

Each call is timed alone (monotonic clock, nanoseconds); the three kinds
take turns of 100 calls, so that other load on the machine weighs on each
alike; 50 warm-up calls of each are not counted.  Prints the median and 90th percentile of each
in microseconds and the ratio of the medians (goal: batch at least 20
times cheaper).  Stdlib only.
"""
import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

WARMUP = 50
TURN = 100


def wait_ready(tokq, sock, proc):
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit("batch_cost: tokqd exited at start")
        if subprocess.run([tokq, "--socket", sock, "status"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            return
        time.sleep(0.05)
    sys.exit("batch_cost: tokqd did not answer")


def proc_cpu_us(pid):
    """User + system CPU of process pid so far, in microseconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1e6 / os.sysconf("SC_CLK_TCK")


def children_cpu_us():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1e6


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    ap = argparse.ArgumentParser(description="tokq batch vs one spawn per check")
    ap.add_argument("--n", type=int, default=2000, help="checks each way (default 2000)")
    ap.add_argument("--build", default=os.environ.get("TOKQ_BUILD", "build"))
    ap.add_argument("--json", action="store_true", help="one JSON object instead of text")
    a = ap.parse_args()
    tokq = os.path.abspath(os.path.join(a.build, "tokq"))
    tokqd = os.path.abspath(os.path.join(a.build, "tokqd"))
    for p in (tokq, tokqd):
        if not os.access(p, os.X_OK):
            sys.exit(f"batch_cost: {p} is not built (make all)")

    tmp = tempfile.mkdtemp(prefix="tokq-batch-cost.")
    sock = os.path.join(tmp, "tokq.sock")
    env = dict(os.environ)
    env.pop("TOKQ_SOCKET", None)
    d = subprocess.Popen([tokqd, "--socket", sock, "--db", os.path.join(tmp, "tokq.db")],
                         stderr=open(os.path.join(tmp, "tokqd.log"), "w"), env=env)
    b = None
    try:
        wait_ready(tokq, sock, d)
        for rule in (["limit", "set", "--default", "--tokens", "1000000000", "--per", "30d"],
                     ["limit", "set", "--default", "--requests", "100000000", "--per", "1h"],
                     ["price", "set", "m0", "--input", "0.15", "--output", "0.6"]):
            subprocess.run([tokq, "--socket", sock] + rule, check=True,
                           stdout=subprocess.DEVNULL)
        args = ["check", "--user", "u1", "--guild", "g1", "--model", "m0", "--tokens", "500"]

        line = (json.dumps(args) + "\n").encode()
        b = subprocess.Popen([tokq, "--socket", sock, "batch"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=env)
        c = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

        def one_spawn():
            r = subprocess.run([tokq, "--socket", sock, "--json"] + args,
                               capture_output=True)
            res = json.loads(r.stdout)
            if r.returncode != 0 or not res["allowed"]:
                sys.exit(f"batch_cost: tokq check exited {r.returncode}")

        def one_line():
            b.stdin.write(line)
            b.stdin.flush()
            res = json.loads(b.stdout.readline())
            if res.get("exit") != 0 or not res["allowed"]:
                sys.exit(f"batch_cost: tokq batch answered {res!r}")

        burst = line * TURN

        def ahead_turn():
            b.stdin.write(burst)
            b.stdin.flush()
            for _ in range(TURN):
                res = json.loads(b.stdout.readline())
                if res.get("exit") != 0 or not res["allowed"]:
                    sys.exit(f"batch_cost: tokq batch answered {res!r}")

        def one_echo():
            c.stdin.write(line)
            c.stdin.flush()
            c.stdout.readline()

        # In turns of 100 calls of a kind, so that other load on the machine
        # weighs on each alike while each kind runs warm, as back to back.
        spawn, batch, pipe, ahead = [], [], [], []
        for f in (one_spawn, one_line, one_echo):
            for _ in range(WARMUP):
                f()
        done = 0
        cpu = {"spawn": 0.0, "batch": 0.0}
        while done < a.n:
            k = min(TURN, a.n - done)
            for f, into in ((one_spawn, spawn), (one_line, batch), (one_echo, pipe)):
                c0 = children_cpu_us() if f is one_spawn else proc_cpu_us(b.pid)
                for _ in range(k):
                    t0 = time.monotonic_ns()
                    f()
                    into.append((time.monotonic_ns() - t0) / 1000)
                if f is one_spawn:
                    cpu["spawn"] += children_cpu_us() - c0
                elif f is one_line:
                    cpu["batch"] += proc_cpu_us(b.pid) - c0
            t0 = time.monotonic_ns()
            ahead_turn()
            ahead.append((time.monotonic_ns() - t0) / 1000 / TURN)
            done += k
        b.stdin.close()
        if b.wait(10) != 0:
            sys.exit("batch_cost: tokq batch did not exit 0")
        b = None
        c.stdin.close()
        c.wait(10)
    finally:
        if b is not None:
            b.kill()
        d.terminate()
        d.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    sm, bm = statistics.median(spawn), statistics.median(batch)
    res = {"n": a.n, "spawn_median_us": round(sm, 1), "spawn_p90_us": round(pct(spawn, 0.9), 1),
           "batch_median_us": round(bm, 1), "batch_p90_us": round(pct(batch, 0.9), 1),
           "pipe_median_us": round(statistics.median(pipe), 1),
           "ratio": round(sm / bm, 1), "goal": 20,
           "ahead_median_us": round(statistics.median(ahead), 1),
           "ahead_ratio": round(sm / statistics.median(ahead), 1),
           "spawn_cpu_us": round(cpu["spawn"] / a.n, 1),
           "batch_cpu_us": round(cpu["batch"] / a.n, 1)}
    res["cpu_ratio"] = round(res["spawn_cpu_us"] / max(res["batch_cpu_us"], 0.1), 1)
    if a.json:
        print(json.dumps(res))
        return
    print(f"== tokq batch vs spawn: {a.n} checks each way, one tokqd, Python caller")
    print(f"{'figure':<46} {'median_us':>10} {'p90_us':>10}")
    print(f"{'spawn: subprocess.run(tokq --json check)':<46} {res['spawn_median_us']:>10} "
          f"{res['spawn_p90_us']:>10}")
    print(f"{'batch: one line to tokq batch and its answer':<46} {res['batch_median_us']:>10} "
          f"{res['batch_p90_us']:>10}")
    print(f"{'pipe: the same line through cat (the floor)':<46} {res['pipe_median_us']:>10}")
    print(f"{'ahead: per check, 100 lines written at once':<46} {res['ahead_median_us']:>10}")
    verdict = "met" if res["ratio"] >= 20 else "MISSED"
    print(f"{'ratio of the medians (spawn / batch)':<46} {res['ratio']:>10} {'>=20':>10} {verdict}")
    print(f"{'ratio, calls in flight together (spawn / ahead)':<46} {res['ahead_ratio']:>10}")
    print(f"{'CPU of the tokq side per check: spawn / batch':<46} "
          f"{res['spawn_cpu_us']:>7} us {res['batch_cpu_us']:>6} us  ratio {res['cpu_ratio']}")


if __name__ == "__main__":
    main()
