"""AsyncTokq: the asyncio client, one `tokq batch` co-process per object.

Many calls are in flight at once over the one co-process: each call queues
its line and appends a future to a FIFO; the lines queued in one turn of the
event loop go out in one write, and one reader task reads the answers, which
come in the order the lines were written, and resolves the futures in turn.
Nothing here blocks the event loop.
"""

import asyncio
import collections
from types import TracebackType
from typing import Any, Deque, List, Mapping, Optional, Sequence, Type, Union

from ._common import (JSONValue, Number, Result, TokqError, Unavailable, check_args,
                      command, decode, encode, environment, lost, outcome, record_args,
                      usage_args)

LINE_LIMIT = 64 << 20           # a `usage` or `stats` answer can be long
HIGH_WATER = 1 << 20            # unsent bytes past which a caller waits for the pipe


class _Child:
    """One co-process, the futures of its unanswered lines, its reader."""

    def __init__(self, proc: "asyncio.subprocess.Process") -> None:
        self.proc = proc
        self.pending: Deque["asyncio.Future[Result]"] = collections.deque()
        self.out: List[bytes] = []
        self.flushing = False
        self.wlock = asyncio.Lock()
        self.dead = False
        self.reader = asyncio.ensure_future(self._read())

    def send(self, line: bytes, fut: "asyncio.Future[Result]") -> None:
        """Queue a line whose answer resolves fut; the queue is written at
        the end of this turn of the loop, in order."""
        self.pending.append(fut)
        self.out.append(line)
        if not self.flushing:
            self.flushing = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.flushing = False
        if not self.out or self.dead:   # dead: its reader fails what is pending
            return
        data = b"".join(self.out)
        self.out.clear()
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
        except (OSError, RuntimeError):
            self.kill()                 # its reader fails every pending call

    async def drain(self) -> None:
        """Wait while the pipe holds more than HIGH_WATER unsent bytes."""
        assert self.proc.stdin is not None
        async with self.wlock:
            try:
                await self.proc.stdin.drain()
            except (OSError, RuntimeError):
                self.kill()

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        why = "exited"
        buf = b""
        try:
            while True:
                chunk = await self.proc.stdout.read(1 << 18)
                if not chunk:
                    break
                lines = (buf + chunk if buf else chunk).split(b"\n")
                buf = lines.pop()
                if len(buf) > LINE_LIMIT:
                    why = "sent an answer too long to read"
                    break
                for line in lines:
                    if not self.pending:
                        continue        # an answer nobody asked for: not ours to keep
                    fut = self.pending.popleft()
                    if fut.done():      # its caller was cancelled: the answer is dropped
                        continue
                    try:
                        fut.set_result(decode(line))
                    except TokqError as e:
                        fut.set_exception(e)
        finally:
            # Marked dead before any await: a call that finds it alive has
            # appended its future before the loop below runs.
            self.dead = True
            if self.proc.returncode is None and why != "exited":
                self.proc.kill()
            self._fail(why)
            # Collect the pipe's own error (EPIPE), which asyncio would
            # otherwise report as never retrieved.
            stdin = self.proc.stdin
            if stdin is not None:
                stdin.close()
                try:
                    await stdin.wait_closed()
                except (OSError, asyncio.CancelledError):
                    pass

    def _fail(self, why: str) -> None:
        while self.pending:
            fut = self.pending.popleft()
            if not fut.done():
                status = self.proc.returncode
                fut.set_exception(lost(f"{why}{'' if status is None else f' (status {status})'}"
                                       " before it answered"))

    def kill(self) -> None:
        self.dead = True
        if self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass


class AsyncTokq:
    """An asyncio client of tokqd over one `tokq batch` co-process.

    The same arguments, results and exceptions as Tokq, as coroutines; any
    number of calls may be awaited concurrently (they are pipelined over the
    one co-process).  The co-process starts at the first call and again after
    it dies: calls in flight when it dies raise TemporaryError (the outcome is
    unknown; a retry with the same key is safe).  Use it within one event
    loop; `async with AsyncTokq() as tq:` closes it.
    """

    def __init__(self, socket: Optional[str] = None, tokq: str = "tokq") -> None:
        self.socket = socket
        self.tokq = tokq
        self._child: Optional[_Child] = None
        self._starting: "Optional[asyncio.Future[_Child]]" = None
        self._closed = False

    async def _live(self) -> _Child:
        """The co-process, started (again) if there is none or it died.
        Starting runs in a task of its own, shielded: a caller cancelled
        meanwhile leaves no process behind, and concurrent callers wait for
        the same start."""
        if self._closed:
            raise ValueError("tokq: the client is closed")
        c = self._child
        if c is not None and not c.dead:
            return c
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._start(c))
        return await asyncio.shield(self._starting)

    async def _start(self, old: Optional[_Child]) -> _Child:
        if old is not None:             # let its reader fail what it still had
            await asyncio.gather(old.reader, return_exceptions=True)
            await old.proc.wait()
        argv = command(self.tokq)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                env=environment(self.socket), limit=LINE_LIMIT)
        except OSError as e:
            raise Unavailable(f"cannot run {argv[0]}: {e.strerror}") from e
        self._child = c = _Child(proc)
        if self._closed:                # closed while it started: it gets EOF now
            await self._finish(c)
            raise ValueError("tokq: the client is closed")
        return c

    async def run(self, *args: Any) -> Result:
        """Any tokq command: await run("limit", "list") answers what
        `tokq --json limit list` prints, plus "exit"."""
        if self._closed:
            raise ValueError("tokq: the client is closed")
        line = encode(args)
        fut: "asyncio.Future[Result]" = asyncio.get_running_loop().create_future()
        c = self._child
        if c is None or c.dead:
            c = await self._live()
        c.send(line, fut)
        stdin = c.proc.stdin
        if stdin is not None and stdin.transport.get_write_buffer_size() > HIGH_WATER:
            await c.drain()
        return outcome(await fut)

    async def check(self, user: Any, model: Optional[str] = None,
                    tokens: Optional[int] = None, cost: Optional[Number] = None,
                    guild: Any = None, channel: Any = None, reserve: bool = False,
                    ttl: Optional[int] = None) -> Result:
        """May the user make this call?  `r.allowed`; when denied (r.exit 1)
        `r.denied_by` and `r.retry_at`; with reserve=True `r.hold`."""
        return await self.run(*check_args(user, model, tokens, cost, guild, channel,
                                          reserve, ttl))

    async def record(self, user: Any, model: Optional[str] = None,
                     prompt: Optional[int] = None, completion: Optional[int] = None,
                     usage: Union[Mapping[str, Any], Sequence[Any], str, None] = None,
                     key: Optional[str] = None, hold: Optional[str] = None,
                     guild: Any = None, channel: Any = None, cached: Optional[int] = None,
                     reasoning: Optional[int] = None, cache_write: Optional[int] = None,
                     total: Optional[int] = None, cost: Optional[Number] = None,
                     service: Optional[str] = None, kind: Optional[str] = None,
                     session: Optional[str] = None, call: Optional[int] = None,
                     meta: JSONValue = None) -> Result:
        """The user spent this (see Tokq.record); `r.crossed` is the warning
        threshold this record newly crossed, or None."""
        return await self.run(*record_args(user, model, prompt, completion, usage, key, hold,
                                           guild, channel, cached, reasoning, cache_write,
                                           total, cost, service, kind, session, call, meta))

    async def release(self, hold: str) -> Result:
        """Free a hold that will not be used."""
        return await self.run("release", hold)

    async def usage(self, user: Any, guild: Any = None, model: Optional[str] = None) -> Result:
        """The user's limits and usage totals (`r.limits`, `r.periods`, `r.by_model`)."""
        return await self.run(*usage_args(user, guild, model))

    async def close(self) -> None:
        """End the co-process after it has answered every call in flight (it
        exits at EOF).  Idempotent."""
        self._closed = True
        if self._starting is not None and not self._starting.done():
            await asyncio.gather(self._starting, return_exceptions=True)
        c, self._child = self._child, None
        if c is not None:
            await self._finish(c)

    @staticmethod
    async def _finish(c: _Child) -> None:
        async with c.wlock:
            c.flush()
            if c.proc.stdin is not None and not c.proc.stdin.is_closing():
                c.proc.stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(c.reader), 10)
        except asyncio.TimeoutError:
            c.kill()
        await asyncio.gather(c.reader, return_exceptions=True)
        await c.proc.wait()

    async def __aenter__(self) -> "AsyncTokq":
        return self

    async def __aexit__(self, t: Optional[Type[BaseException]], v: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        await self.close()

    @property
    def pid(self) -> Optional[int]:
        """The co-process's pid, or None before the first call."""
        return self._child.proc.pid if self._child is not None else None


__all__: List[str] = ["AsyncTokq"]
