"""tokq: token quotas for LLM chat bots, from Python.

Tokq (blocking) and AsyncTokq (asyncio) talk to tokqd through one long-lived
`tokq batch` co-process each; standard library only.

    from tokq import AsyncTokq, TemporaryError

    async with AsyncTokq() as tq:
        r = await tq.check(user, model="gpt-4o-mini", tokens=2000, reserve=True)
        if not r.allowed:                       # a denial is a result (r.exit == 1)
            ...  r.denied_by.limit, r.retry_at
        rec = await tq.record(user, model="gpt-4o-mini", usage=response_usage,
                              key=message_id, hold=r.hold)
        if rec.crossed: ...                     # 80, 95 or 100, once

Results are Result objects: dicts whose keys (those of `tokq --json`, plus
"exit") are also attributes, nested objects included.  Exit codes other than
0 and 1 raise: UsageError (64), InvalidData (65), Unavailable (69),
InternalError (70), TemporaryError (75), PermissionDenied (77), all
TokqError with .exit, .error and .result.
"""

from ._async import AsyncTokq
from ._common import (InternalError, InvalidData, PermissionDenied, Result, TemporaryError,
                      TokqError, Unavailable, UsageError)
from ._sync import Tokq

__version__ = "0.1.0"
__all__ = ["Tokq", "AsyncTokq", "Result", "TokqError", "UsageError", "InvalidData",
           "Unavailable", "InternalError", "TemporaryError", "PermissionDenied"]
