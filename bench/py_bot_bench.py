#!/usr/bin/env python3
"""py_bot_bench.py: what quota handling costs a Python bot, in LLM calls per
second (one check before and one record after each call), with PROCS bot
processes at once, four ways:

  (a) spawn    subprocess.run(["tokq", "--json", "check", ...]) then
               subprocess.run(["tokq", "--json", "record", ...]) per call
  (b) async    AsyncTokq over one `tokq batch` per process, CONCURRENCY
               coroutines per process (an asyncio bot with many messages
               in flight)
  (b') sync    Tokq (blocking) over one `tokq batch` per process, one call
               at a time
  (c) handmade the in-process SQLite table bots build by hand
               (handmade_table.py: a 30-day sum, an insert, a commit; WAL)

(a), (b) and (b') run against one tokqd that this script starts on a
temporary socket and database (one per-user 30-day token rule, as (c)
checks); (c) uses a database file next to it.  Every figure is the sum over
the processes of the calls completed within SECONDS.

Usage: py_bot_bench.py [--build DIR] [--seconds N] [--procs N] [--concurrency N]
  DIR defaults to $TOKQ_BUILD, else build/.  Needs build/tokq with `tokq batch`.
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
sys.path.insert(0, HERE)

from handmade_table import HandmadeTracker  # noqa: E402
from tokq import AsyncTokq, Tokq  # noqa: E402

MODEL = "m0"
USERS = 1000                    # per process
ESTIMATE, PROMPT, COMPLETION = 500, 300, 100
LIMIT = 10 ** 12                # never binding: every call is allowed


# --- one bot process -----------------------------------------------------------
def wait_until(t: float) -> None:
    d = t - time.time()
    if d > 0:
        time.sleep(d)


def worker_spawn(a: argparse.Namespace) -> int:
    base = [a.tokq, "--socket", a.socket, "--json"]
    wait_until(a.start_at)
    end, n = a.start_at + a.seconds, 0
    while True:
        user = f"s{a.index}-{n % USERS}"
        c = subprocess.run(base + ["check", "--user", user, "--model", MODEL,
                                   "--tokens", str(ESTIMATE)], capture_output=True)
        if c.returncode == 0:
            json.loads(c.stdout)
            r = subprocess.run(base + ["record", "--user", user, "--model", MODEL,
                                       "--prompt", str(PROMPT), "--completion", str(COMPLETION),
                                       "--key", f"s{a.index}-{n}"], capture_output=True)
            json.loads(r.stdout)
        if time.time() > end:
            return n
        n += 1


def worker_sync(a: argparse.Namespace) -> int:
    with Tokq(socket=a.socket, tokq=a.tokq) as tq:
        tq.run("status")                # the co-process is up before the clock starts
        wait_until(a.start_at)
        end, n = a.start_at + a.seconds, 0
        while True:
            user = f"y{a.index}-{n % USERS}"
            if tq.check(user, model=MODEL, tokens=ESTIMATE).allowed:
                tq.record(user, model=MODEL, prompt=PROMPT, completion=COMPLETION,
                          key=f"y{a.index}-{n}")
            if time.time() > end:
                return n
            n += 1


async def worker_async(a: argparse.Namespace) -> int:
    async with AsyncTokq(socket=a.socket, tokq=a.tokq) as tq:
        await tq.run("status")
        await asyncio.sleep(max(0.0, a.start_at - time.time()))
        end = a.start_at + a.seconds
        done = 0
        seq = 0

        async def bot() -> None:
            nonlocal done, seq
            while True:
                seq += 1
                n = seq
                user = f"a{a.index}-{n % USERS}"
                if (await tq.check(user, model=MODEL, tokens=ESTIMATE)).allowed:
                    await tq.record(user, model=MODEL, prompt=PROMPT, completion=COMPLETION,
                                    key=f"a{a.index}-{n}")
                if time.time() > end:
                    return
                done += 1

        await asyncio.gather(*(bot() for _ in range(a.concurrency)))
        return done


def worker_handmade(a: argparse.Namespace) -> int:
    t = HandmadeTracker(a.db, LIMIT)
    wait_until(a.start_at)
    end, n = a.start_at + a.seconds, 0
    while True:
        user = f"h{a.index}-{n % USERS}"
        if t.can_process_request(user, ESTIMATE):
            t.record_token_usage(user, "g1", MODEL, PROMPT, COMPLETION)
        if time.time() > end:
            t.close()
            return n
        n += 1


# --- the driver ------------------------------------------------------------------
def run_mode(mode: str, a: argparse.Namespace, socket: str, tokq: str, db: str) -> float:
    start_at = time.time() + 1.5        # every process set up before the clock starts
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", mode,
                               "--index", str(i), "--socket", socket, "--tokq", tokq,
                               "--db", db, "--start-at", repr(start_at),
                               "--seconds", str(a.seconds),
                               "--concurrency", str(a.concurrency)],
                              stdout=subprocess.PIPE)
             for i in range(a.procs)]
    total = 0
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            sys.exit(f"bench: {mode} worker failed (exit {p.returncode})")
        total += json.loads(out)["calls"]
    return total / a.seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("TOKQ_BUILD") or os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 5)))
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--worker")
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--socket")
    ap.add_argument("--tokq")
    ap.add_argument("--db")
    ap.add_argument("--start-at", type=float)
    a = ap.parse_args()

    if a.worker:
        fn = {"spawn": worker_spawn, "sync": worker_sync, "handmade": worker_handmade,
              "async": lambda x: asyncio.run(worker_async(x))}[a.worker]
        print(json.dumps({"calls": fn(a)}))
        return 0

    tokq, tokqd = os.path.join(a.build, "tokq"), os.path.join(a.build, "tokqd")
    for p in (tokq, tokqd):
        if not os.access(p, os.X_OK):
            sys.exit(f"bench: {p} is not built (make all)")
    tmp = tempfile.mkdtemp(prefix="tokq-pybench.")
    socket = os.path.join(tmp, "tokq.sock")
    log = open(os.path.join(tmp, "tokqd.log"), "wb")
    d = subprocess.Popen([tokqd, "--socket", socket, "--db", os.path.join(tmp, "tokq.db")],
                         stdout=log, stderr=log)
    try:
        for _ in range(400):
            if subprocess.run([tokq, "--socket", socket, "status"],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.025)
        else:
            sys.exit("bench: tokqd did not start")
        r = subprocess.run([tokq, "--socket", socket, "limit", "set", "--default",
                            "--tokens", str(LIMIT), "--per", "30d"], capture_output=True)
        if r.returncode != 0:
            sys.exit(f"bench: limit set: {r.stderr.decode().strip()}")
        b = subprocess.run([tokq, "--socket", socket, "batch"], input=b'["status"]\n',
                           capture_output=True)
        if b.returncode != 0 or b'"exit":0' not in b.stdout:
            sys.exit("bench: this tokq has no working `tokq batch`")

        db = os.path.join(tmp, "handmade.db")
        print(f"bench: python bot, {a.procs} processes, {a.seconds:g} s per way; machine: "
              f"{os.cpu_count()} cores, load average "
              f"{' '.join(open('/proc/loadavg').read().split()[:3])}", file=sys.stderr)
        fig = {}
        for mode in ("spawn", "async", "sync", "handmade"):
            print(f"bench: {mode} ...", file=sys.stderr)
            fig[mode] = run_mode(mode, a, socket, tokq, db)
    finally:
        d.terminate()
        d.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)

    def ratio(x: float, y: float) -> str:
        return f"{x / y:.2f}" if y else "n/a"

    print(f"\n== python bot: check + record per LLM call, {a.procs} processes, "
          f"{a.seconds:g} s each")
    rows = [("(a) subprocess.run: tokq check, tokq record", "spawn"),
            (f"(b) AsyncTokq over tokq batch, {a.concurrency} coroutines/process", "async"),
            ("(b') Tokq (blocking) over tokq batch", "sync"),
            ("(c) hand-made sqlite3 table (WAL, 30-day sum, commit)", "handmade")]
    for label, k in rows:
        print(f"{label:<64} {fig[k]:10.0f} calls/s")
    met = fig["handmade"] and fig["async"] / fig["handmade"] >= 2
    print(f"{'(b) / (c)  (target >= 2)':<64} {ratio(fig['async'], fig['handmade']):>10} "
          f"{'met' if met else 'MISSED'}")
    print(f"{'(b) / (a)':<64} {ratio(fig['async'], fig['spawn']):>10}")
    print(f"{'(bp) / (c)':<64} {ratio(fig['sync'], fig['handmade']):>10}".replace("(bp)", "(b')"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
