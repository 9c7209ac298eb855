"""A real tokqd for the tests, on a temporary socket with the test clock.

The binaries come from $TOKQ_BUILD (else the repository's build/); $TOKQ
names another client to test the library with.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import List

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("TOKQ_BUILD") or os.path.join(ROOT, "build")
TOKQD = os.path.join(BUILD, "tokqd")
TOKQ = os.environ.get("TOKQ") or os.path.join(BUILD, "tokq")


class Daemon:
    """tokqd on $dir/s with its database in $dir; stop() ends it."""

    def __init__(self) -> None:
        for p in (TOKQD, TOKQ):
            if not os.access(p, os.X_OK):
                raise RuntimeError(f"{p} is not built (make, or set TOKQ_BUILD)")
        self.dir = tempfile.mkdtemp(prefix="tokq-py.")
        self.socket = os.path.join(self.dir, "s")
        self.log = open(os.path.join(self.dir, "tokqd.log"), "wb")
        self.proc = subprocess.Popen([TOKQD, "--socket", self.socket, "--db",
                                      os.path.join(self.dir, "db"), "--test-clock"],
                                     stdout=self.log, stderr=self.log)
        for _ in range(200):
            if self.cli("status").returncode == 0:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("tokqd exited: " + open(self.log.name).read())
            time.sleep(0.025)
        else:
            raise RuntimeError("tokqd did not answer")
        self.tq("clock", "set", "2026-12-01T10:00:00Z")

    def cli(self, *args: str) -> "subprocess.CompletedProcess[str]":
        return subprocess.run([TOKQ, "--socket", self.socket, *args],
                              capture_output=True, text=True)

    def tq(self, *args: str) -> None:
        r = self.cli(*args)
        if r.returncode != 0:
            raise RuntimeError(f"tokq {' '.join(args)}: exit {r.returncode}: {r.stderr}")

    def json(self, *args: str) -> dict:
        r = self.cli("--json", *args)
        return json.loads(r.stdout)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def script(directory: str, name: str, body: str) -> str:
    """An executable Python script in directory; its path."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(f"#!{sys.executable}\n" + textwrap.dedent(body))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def dying_tokq(directory: str) -> str:
    """A tokq that runs the real `tokq batch` behind it, but the first time
    it meets a `record` line it passes the line on, waits until the record
    is kept, and dies without answering: a record whose outcome is unknown
    to the caller.  Later co-processes pass everything through."""
    marker = os.path.join(directory, "died")
    return script(directory, "dying-tokq", f"""
        import os, subprocess, sys
        real = subprocess.Popen([{TOKQ!r}, *sys.argv[1:]], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
        for line in sys.stdin.buffer:
            real.stdin.write(line); real.stdin.flush()
            answer = real.stdout.readline()
            if b'"record"' in line and not os.path.exists({marker!r}):
                open({marker!r}, "w").close()
                os._exit(3)
            sys.stdout.buffer.write(answer); sys.stdout.buffer.flush()
        """)


def canned_tokq(directory: str, answers: List[dict]) -> str:
    """A tokq whose batch answers the i-th line with answers[i]."""
    return script(directory, "canned-tokq", f"""
        import json, sys
        answers = {answers!r}
        for i, line in enumerate(sys.stdin):
            print(json.dumps(answers[i % len(answers)]), flush=True)
        """)
