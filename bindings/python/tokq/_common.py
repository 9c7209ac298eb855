"""What the blocking and the asyncio clients share: the request lines they
write to `tokq batch`, the results they read back, and the exceptions.

A request is one line, a JSON array of strings: the arguments that would
follow `tokq` on a command line.  An answer is one line, the object
`tokq --json` prints plus "exit" (and "error" on failure), in the order the
requests were written.
"""

import json
import os
import shutil
from decimal import Decimal
from typing import Any, Dict, List, Mapping, Optional, Sequence, Type, Union

JSONValue = Any
Number = Union[int, float, Decimal, str]


class Result(Dict[str, Any]):
    """One answer of tokq: a dict whose keys are also attributes.

    Every JSON object of the answer is a Result, nested ones included, so
    `r.denied_by.limit` and `r["denied_by"]["limit"]` are the same value;
    keys that are not identifiers (`r.periods["30d"]`) are reached as keys.
    `r.exit` is tokq's exit code (0, or 1 for a denied check).  A key the
    answer does not carry raises AttributeError (use `r.get(key)`).
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | {k for k in self if k.isidentifier()})


class TokqError(Exception):
    """tokq failed: `exit` is its exit code, `error` its one-line message,
    `result` the whole answer (a Result with at least "exit" and "error")."""

    exit: int = 70

    def __init__(self, error: str, result: Optional[Result] = None,
                 exit: Optional[int] = None) -> None:
        super().__init__(error)
        if exit is not None:
            self.exit = exit
        self.error = error
        self.result = result if result is not None else \
            Result(exit=self.exit, error=error)

    def __str__(self) -> str:
        return self.error


class UsageError(TokqError):
    """Exit 64: a missing, unknown or malformed argument, judged by tokq
    before anything was sent: a bug in the caller."""
    exit = 64


class InvalidData(TokqError):
    """Exit 65: tokqd refused the data (a bad id, an unknown hold, a key
    reused with other fields, no such rule)."""
    exit = 65


class Unavailable(TokqError):
    """Exit 69: tokqd is unreachable (not running, or the socket is wrong),
    or tokq itself cannot be run."""
    exit = 69


class InternalError(TokqError):
    """Exit 70: an internal error in tokq or tokqd."""
    exit = 70


class TemporaryError(TokqError):
    """Exit 75: refused for now (busy, disk full: nothing was kept), or the
    answer was lost after the request was sent (the outcome is unknown,
    e.g. the co-process died).  Retrying with the same `key` is safe and
    never counts twice."""
    exit = 75


class PermissionDenied(TokqError):
    """Exit 77: an admin command from a caller who is not an admin."""
    exit = 77


ERRORS: Dict[int, Type[TokqError]] = {
    c.exit: c for c in (UsageError, InvalidData, Unavailable, InternalError,
                        TemporaryError, PermissionDenied)
}


def decode(line: Union[str, bytes]) -> Result:
    """A line of `tokq batch` as a Result; a line that is not a JSON object
    with an integer "exit" is an InternalError."""
    try:
        r = json.loads(line, object_hook=Result)
    except ValueError:
        r = None
    if not isinstance(r, Result) or not isinstance(r.get("exit"), int):
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        raise InternalError(f"tokq batch: not an answer: {text.strip()[:200]!r}")
    return r


def outcome(r: Result) -> Result:
    """The answer itself for exit 0 and 1; the exception of its exit code
    otherwise."""
    code = r["exit"]
    if code in (0, 1):
        return r
    error = r.get("error") or f"tokq: exit {code}"
    cls = ERRORS.get(code, TokqError)
    raise cls(str(error), r, exit=code)


def lost(why: str) -> TemporaryError:
    """The error of a call whose answer the co-process never gave."""
    msg = f"tokq batch {why}; the outcome is unknown (a retry with the same key is safe)"
    return TemporaryError(msg, Result(exit=75, error=msg, temporary="unknown"))


def number(v: Number) -> str:
    """A count or a dollar amount as tokq reads it: no exponent, no float
    noise (0.1 stays "0.1", 1e-05 becomes "0.00001")."""
    if isinstance(v, bool):
        raise TypeError("a number, not a bool")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        v = Decimal(repr(v))
    if isinstance(v, Decimal):
        s = format(v, "f")
        return s.rstrip("0").rstrip(".") if "." in s else s
    return str(v)


def _opt(args: List[str], flag: str, v: Any) -> None:
    if v is None:
        return
    if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
        args += [flag, number(v)]
    else:
        args += [flag, str(v)]


def check_args(user: Any, model: Optional[str] = None, tokens: Optional[int] = None,
               cost: Optional[Number] = None, guild: Any = None, channel: Any = None,
               reserve: bool = False, ttl: Optional[int] = None) -> List[str]:
    a = ["check", "--user", str(user)]
    _opt(a, "--guild", guild)
    _opt(a, "--channel", channel)
    _opt(a, "--model", model)
    _opt(a, "--tokens", tokens)
    _opt(a, "--cost", cost)
    if reserve:
        a.append("--reserve")
    _opt(a, "--ttl", ttl)
    return a


def record_args(user: Any, model: Optional[str] = None, prompt: Optional[int] = None,
                completion: Optional[int] = None,
                usage: Union[Mapping[str, Any], Sequence[Any], str, None] = None,
                key: Optional[str] = None, hold: Optional[str] = None, guild: Any = None,
                channel: Any = None, cached: Optional[int] = None,
                reasoning: Optional[int] = None, cache_write: Optional[int] = None,
                total: Optional[int] = None, cost: Optional[Number] = None,
                service: Optional[str] = None, kind: Optional[str] = None,
                session: Optional[str] = None, call: Optional[int] = None,
                meta: JSONValue = None) -> List[str]:
    a = ["record", "--user", str(user)]
    _opt(a, "--guild", guild)
    _opt(a, "--channel", channel)
    _opt(a, "--model", model)
    _opt(a, "--prompt", prompt)
    _opt(a, "--completion", completion)
    _opt(a, "--total", total)
    _opt(a, "--cached", cached)
    _opt(a, "--cache-write", cache_write)
    _opt(a, "--reasoning", reasoning)
    _opt(a, "--cost", cost)
    _opt(a, "--service", service)
    _opt(a, "--kind", kind)
    _opt(a, "--session", session)
    _opt(a, "--call", call)
    if meta is not None:
        a += ["--meta", json.dumps(meta, separators=(",", ":"))]
    _opt(a, "--key", key)
    _opt(a, "--hold", hold)
    if usage is not None:
        # The document itself: a batch never reads a file or stdin.
        doc = usage if isinstance(usage, str) else json.dumps(usage, separators=(",", ":"))
        a += ["--usage-json", doc]
    return a


def usage_args(user: Any, guild: Any = None, model: Optional[str] = None) -> List[str]:
    a = ["usage", "--user", str(user)]
    _opt(a, "--guild", guild)
    _opt(a, "--model", model)
    return a


def encode(args: Sequence[Any]) -> bytes:
    """One request line."""
    return (json.dumps([str(x) for x in args], separators=(",", ":")) + "\n").encode()


def command(tokq: str) -> List[str]:
    """The co-process's argv: `tokq batch`, tokq looked up on PATH unless a
    path is given."""
    path = tokq if os.sep in tokq else shutil.which(tokq)
    if path is None:
        raise Unavailable(f"cannot run {tokq}: not found on PATH")
    return [path, "batch"]


def environment(socket: Optional[str]) -> Dict[str, str]:
    """The co-process's environment: ours (TOKQ_SOCKET passes through),
    with TOKQ_SOCKET set when a socket is given."""
    env = dict(os.environ)
    if socket is not None:
        env["TOKQ_SOCKET"] = os.fspath(socket)
    return env
