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
          read back and parsed, alone: what it pays with one;
  ahead   100 such lines written to the batch at once, then their 100
          answers read: per check, when calls are in flight together, as
          AsyncTokq and the Node library send them;
  pipe    the same line through a long-lived `cat`: the floor of any
          co-process (two pipe hops, no work), for scale.

Two costs of each, per check:

  time    wall time of one call, median and 90th percentile (monotonic
          clock); for a lone call mostly the wake-ups of three processes
          in turn (caller, tokq, tokqd, tokq, caller), which a machine's
          scheduler sets, not tokq;
  CPU     what the machine burns for it, process by process: the caller
          (its own CPU clock), the tokq side (the spawned processes'
          user + system time from getrusage, or the batch process's
          se.sum_exec_runtime in /proc/PID/sched, nanoseconds), tokqd
          (likewise), and their sum.

The goal of issue 22, "one check through batch at least 20 times cheaper
than one spawned tokq check", is judged on the CPU sum of all three
processes for a lone call: what every call costs a bot's machine, which
is the cost of a spawn (a process made and torn down) and the one thing
tokq decides; a lone call's time is bounded by the wake-ups instead (see
the pipe floor), and is printed beside it with its own ratio.  The bound
printed last is what the caller's and tokqd's share alone allow: the
ratio a tokq batch that cost nothing would reach.

The kinds take turns of 100 calls, so that other load on the machine
weighs on each alike; 50 warm-up calls of each are not counted.  Linux
only (/proc); stdlib only.
"""
import argparse
import glob
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

WARMUP = 50
TURN = 100
GOAL = 20


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
    """CPU of process pid so far (all its threads), in microseconds."""
    total = 0.0
    for path in glob.glob(f"/proc/{pid}/task/*/sched"):
        try:
            with open(path) as f:
                for ln in f:
                    if ln.startswith("se.sum_exec_runtime"):
                        total += float(ln.split(":")[1]) * 1000
                        break
        except FileNotFoundError:
            pass	# a thread gone meanwhile
    return total


def children_cpu_us():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1e6


def self_cpu_us():
    return time.process_time_ns() / 1000


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
    n = max(TURN, a.n // TURN * TURN)

    tmp = tempfile.mkdtemp(prefix="tokq-batch-cost.")
    sock = os.path.join(tmp, "tokq.sock")
    env = dict(os.environ)
    env.pop("TOKQ_SOCKET", None)
    d = subprocess.Popen([tokqd, "--socket", sock, "--db", os.path.join(tmp, "tokq.db")],
                         stderr=open(os.path.join(tmp, "tokqd.log"), "w"), env=env)
    b = c = None
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

        # What each kind's CPU is read from: the caller, its tokq side, tokqd.
        tokq_side = {"spawn": children_cpu_us, "batch": lambda: proc_cpu_us(b.pid),
                     "ahead": lambda: proc_cpu_us(b.pid), "pipe": lambda: proc_cpu_us(c.pid)}
        kinds = (("spawn", one_spawn, 1), ("batch", one_line, 1), ("pipe", one_echo, 1),
                 ("ahead", ahead_turn, TURN))
        lat = {k: [] for k, _, _ in kinds}
        cpu = {k: {"caller": 0.0, "tokq": 0.0, "tokqd": 0.0} for k, _, _ in kinds}
        for _, f, _ in kinds:
            for _ in range(WARMUP if f is not ahead_turn else 2):
                f()
        # In turns of 100 calls of a kind, so that other load on the machine
        # weighs on each alike while each kind runs warm, as back to back.
        for _ in range(n // TURN):
            for k, f, per in kinds:
                c0, t0, d0 = self_cpu_us(), tokq_side[k](), proc_cpu_us(d.pid)
                for _ in range(TURN // per):
                    w0 = time.monotonic_ns()
                    f()
                    lat[k].append((time.monotonic_ns() - w0) / 1000 / per)
                cpu[k]["caller"] += self_cpu_us() - c0
                cpu[k]["tokq"] += tokq_side[k]() - t0
                cpu[k]["tokqd"] += proc_cpu_us(d.pid) - d0
        b.stdin.close()
        if b.wait(10) != 0:
            sys.exit("batch_cost: tokq batch did not exit 0")
        b = None
        c.stdin.close()
        c.wait(10)
        c = None
    finally:
        for p in (b, c):
            if p is not None:
                p.kill()
        d.terminate()
        d.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    res = {"n": n, "goal": GOAL}
    for k, _, _ in kinds:
        res[k] = {"median_us": round(statistics.median(lat[k]), 1),
                  "p90_us": round(pct(lat[k], 0.9), 1)}
        for part, v in cpu[k].items():
            res[k][f"cpu_{part}_us"] = round(v / n, 1)
        res[k]["cpu_us"] = round(sum(cpu[k].values()) / n, 1)
    del res["pipe"]["cpu_tokqd_us"]	# tokqd is not part of it
    res["pipe"]["cpu_us"] = round((cpu["pipe"]["caller"] + cpu["pipe"]["tokq"]) / n, 1)
    s, bt, ah = res["spawn"], res["batch"], res["ahead"]
    res["cpu_ratio"] = round(s["cpu_us"] / max(bt["cpu_us"], 0.1), 1)
    res["cpu_ratio_ahead"] = round(s["cpu_us"] / max(ah["cpu_us"], 0.1), 1)
    res["tokq_cpu_ratio"] = round(s["cpu_tokq_us"] / max(bt["cpu_tokq_us"], 0.1), 1)
    res["time_ratio"] = round(s["median_us"] / bt["median_us"], 1)
    res["time_ratio_ahead"] = round(s["median_us"] / ah["median_us"], 1)
    # What bounds the lone call: its caller's and tokqd's CPU, which a tokq
    # batch that cost nothing would still leave.
    res["cpu_ratio_bound"] = round(s["cpu_us"] / max(bt["cpu_caller_us"] + bt["cpu_tokqd_us"],
                                                     0.1), 1)
    res["met"] = res["cpu_ratio"] >= GOAL
    if a.json:
        print(json.dumps(res))
        return

    def cell(v):
        return "-" if v is None else f"{v:.1f}"

    print(f"== tokq batch vs spawn: {n} checks each way, one tokqd, Python caller, per check")
    print(f"{'':<40} {'time, median':>12} {'p90':>7}   {'CPU: caller':>11} {'tokq':>6} "
          f"{'tokqd':>6} {'sum':>6}")
    names = {"spawn": "spawn: subprocess.run(tokq --json check)",
             "batch": "batch: one line alone, its answer read",
             "ahead": "ahead: 100 lines written at once",
             "pipe": "pipe: one line through cat (the floor)"}
    for k in ("spawn", "batch", "ahead", "pipe"):
        r = res[k]
        print(f"{names[k]:<40} {cell(r['median_us']):>12} {cell(r['p90_us']):>7}   "
              f"{cell(r['cpu_caller_us']):>11} {cell(r['cpu_tokq_us']):>6} "
              f"{cell(r.get('cpu_tokqd_us')):>6} {cell(r['cpu_us']):>6}")
    verdict = "met" if res["met"] else "MISSED"
    print(f"goal: one check through batch >= {GOAL}x cheaper than a spawn, judged on the CPU")
    print(f"  sum (what every call costs the machine; a lone call's time is mostly wake-ups):")
    print(f"  spawn / batch, CPU sum {res['cpu_ratio']:>6}   >= {GOAL}  {verdict}")
    print(f"  spawn / ahead, CPU sum {res['cpu_ratio_ahead']:>6}")
    print(f"  spawn / batch, tokq side's CPU alone {res['tokq_cpu_ratio']}")
    print(f"  bound: were tokq batch free, the caller's and tokqd's CPU would leave "
          f"{res['cpu_ratio_bound']}")
    print(f"  spawn / batch, time {res['time_ratio']}; spawn / ahead, time "
          f"{res['time_ratio_ahead']} (reported, not judged)")


if __name__ == "__main__":
    main()
