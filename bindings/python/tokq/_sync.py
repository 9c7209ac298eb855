"""Tokq: the blocking client, one `tokq batch` co-process per object."""

import subprocess
import threading
from types import TracebackType
from typing import IO, Any, List, Mapping, Optional, Sequence, Type, Union, cast

from ._common import (JSONValue, Number, Result, Unavailable, check_args, command, decode,
                      encode, environment, lost, outcome, record_args, usage_args)


class Tokq:
    """A blocking client of tokqd over one `tokq batch` co-process.

    `socket` sets TOKQ_SOCKET for the co-process (else it inherits ours, else
    tokq's default); `tokq` is the client's name on PATH or a path.  The
    co-process starts at the first call and again after it dies: a call in
    flight when it dies raises TemporaryError (the outcome is unknown; a retry
    with the same key is safe).  Calls from several threads are served one at
    a time.  Each method returns a Result for exit 0 and 1 (a denied check is
    a result: `r.allowed` is False) and raises the TokqError subclass of any
    other exit code.
    """

    def __init__(self, socket: Optional[str] = None, tokq: str = "tokq") -> None:
        self.socket = socket
        self.tokq = tokq
        self._proc: Optional["subprocess.Popen[bytes]"] = None
        self._lock = threading.Lock()
        self._closed = False

    def _start(self) -> "subprocess.Popen[bytes]":
        p = self._proc
        if p is not None and p.poll() is None:
            return p
        if p is not None:
            self._reap(p)
        argv = command(self.tokq)
        try:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 env=environment(self.socket))
        except OSError as e:
            raise Unavailable(f"cannot run {argv[0]}: {e.strerror}") from e
        self._proc = p
        return p

    def _reap(self, p: "subprocess.Popen[bytes]") -> None:
        for f in (p.stdin, p.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        if p.poll() is None:
            p.kill()
        p.wait()
        if self._proc is p:
            self._proc = None

    def run(self, *args: Any) -> Result:
        """Any tokq command: run("limit", "list") answers what
        `tokq --json limit list` prints, plus "exit"."""
        with self._lock:
            if self._closed:
                raise ValueError("tokq: the client is closed")
            p = self._start()
            stdin, stdout = cast(IO[bytes], p.stdin), cast(IO[bytes], p.stdout)
            try:
                stdin.write(encode(args))
                stdin.flush()
                line = stdout.readline()
            except (BrokenPipeError, ConnectionResetError):
                line = b""
            if not line:
                self._reap(p)
                raise lost(f"exited (status {p.returncode}) before it answered")
            r = decode(line)
        return outcome(r)

    def check(self, user: Any, model: Optional[str] = None, tokens: Optional[int] = None,
              cost: Optional[Number] = None, guild: Any = None, channel: Any = None,
              reserve: bool = False, ttl: Optional[int] = None) -> Result:
        """May the user make this call?  `r.allowed`; when denied (r.exit 1)
        `r.denied_by` and `r.retry_at`; with reserve=True `r.hold`."""
        return self.run(*check_args(user, model, tokens, cost, guild, channel, reserve, ttl))

    def record(self, user: Any, model: Optional[str] = None, prompt: Optional[int] = None,
               completion: Optional[int] = None,
               usage: Union[Mapping[str, Any], Sequence[Any], str, None] = None,
               key: Optional[str] = None, hold: Optional[str] = None, guild: Any = None,
               channel: Any = None, cached: Optional[int] = None,
               reasoning: Optional[int] = None, cache_write: Optional[int] = None,
               total: Optional[int] = None, cost: Optional[Number] = None,
               service: Optional[str] = None, kind: Optional[str] = None,
               session: Optional[str] = None, call: Optional[int] = None,
               meta: JSONValue = None) -> Result:
        """The user spent this.  `usage` is a provider's usage object, response
        or list of them (a dict/list, or its JSON text); `meta` any JSON value.
        `r.crossed` is the warning threshold this record newly crossed, or None."""
        return self.run(*record_args(user, model, prompt, completion, usage, key, hold,
                                     guild, channel, cached, reasoning, cache_write, total,
                                     cost, service, kind, session, call, meta))

    def release(self, hold: str) -> Result:
        """Free a hold that will not be used."""
        return self.run("release", hold)

    def usage(self, user: Any, guild: Any = None, model: Optional[str] = None) -> Result:
        """The user's limits and usage totals (`r.limits`, `r.periods`, `r.by_model`)."""
        return self.run(*usage_args(user, guild, model))

    def close(self) -> None:
        """End the co-process (it exits at EOF).  Idempotent."""
        with self._lock:
            self._closed = True
            p, self._proc = self._proc, None
            if p is None:
                return
            try:
                cast(IO[bytes], p.stdin).close()
            except OSError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            cast(IO[bytes], p.stdout).close()

    def __enter__(self) -> "Tokq":
        return self

    def __exit__(self, t: Optional[Type[BaseException]], v: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    @property
    def pid(self) -> Optional[int]:
        """The co-process's pid, or None before the first call."""
        return self._proc.pid if self._proc is not None else None


__all__: List[str] = ["Tokq"]
