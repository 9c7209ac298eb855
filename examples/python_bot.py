#!/usr/bin/env python3
"""python_bot.py: a chat bot's quota handling with tokq's AsyncTokq.

Shaped like a discord.py bot (an `on_message` coroutine, `message.reply`),
without importing discord: a built-in script of messages stands in for the
gateway.  For each message the bot:
  1. asks `check(..., reserve=True)` whether the author may make the call,
     holding the estimate so that concurrent messages cannot overspend;
  2. if allowed, "calls the LLM" (a fake that returns an OpenAI-style usage
     object) and records what it used with `record(..., usage=..., key=...,
     hold=...)`; it warns the user once per threshold when the record's
     `crossed` is not None;
  3. if denied (a result, not an exception) tells the user the rule and
     when there is room again (`retry_at`);
and at the end it shows each user their usage.

AsyncTokq keeps one `tokq batch` co-process and pipelines every call over
it, so a busy bot pays no process spawn per call and never blocks its event
loop.  Every error is handled: UsageError/InvalidData are bugs in the bot,
Unavailable means tokqd is not running (fail closed: no LLM call),
TemporaryError is retried with the same key (never counts twice),
PermissionDenied is a permission problem.

Usage: python_bot.py [--socket PATH]       (or TOKQ_SOCKET=PATH)
       TOKQ=/path/to/tokq python_bot.py    (default: tokq from PATH)
Exit: 0 when every tokq call worked (denials included), 1 otherwise.
"""

import argparse
import asyncio
import os
import sys
import uuid
from dataclasses import dataclass

try:
    import tokq
except ImportError:                     # run from the source tree, not installed
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "bindings", "python"))
    import tokq

from tokq import (AsyncTokq, InvalidData, PermissionDenied, TemporaryError, TokqError,
                  Unavailable, UsageError)

GUILD = "guild-1"
MODEL = "gpt-4o-mini"
MAX_COMPLETION = 150            # the max_tokens the bot asks the LLM for
RUN = uuid.uuid4().hex[:8]      # keys must be unique per call, not per run
RETRIES = 5


# --- what discord.py would hand the bot ---------------------------------------
@dataclass
class User:
    id: str
    bot: bool = False


@dataclass
class Guild:
    id: str


@dataclass
class Message:
    id: int
    author: User
    guild: Guild
    content: str

    async def reply(self, text: str) -> None:
        say(self.author.id, text)


# (message id, user, prompt): a Discord bot would get these from events.
SCRIPT = [
    (1, "alice", "What is a token?"),
    (2, "bob", "Write a haiku about quotas."),
    (3, "bob", "Explain rolling windows versus calendar windows in detail."),
    (4, "alice", "Summarise the plot of Hamlet in two sentences."),
    (5, "bob", "And now a limerick about rate limits, please."),
    (6, "bob", "One more: a sonnet about running out of tokens."),
    (7, "alice", "Thanks!"),
]


def log(msg: str) -> None:
    print(f"  [bot] {msg}", flush=True)


def say(user: str, msg: str) -> None:
    print(f"@{user}: {msg}", flush=True)


def estimate_tokens(prompt: str) -> int:
    """A cheap upper estimate: ~4 characters a token, plus the answer."""
    return len(prompt) // 4 + 20 + MAX_COMPLETION


async def fake_llm(prompt: str):
    """Stands in for `await client.chat.completions.create(...)`: a
    deterministic answer and an OpenAI-style usage object."""
    prompt_tokens = len(prompt) // 4 + 20
    completion_tokens = 80 + 6 * (len(prompt) % 11)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    return f"(an answer of {completion_tokens} tokens)", usage


class BotError(Exception):
    """tokq failed for a reason other than a denial: the bot cannot go on."""


async def call(fn, *args, **kwargs):
    """Await a tokq call; retry TemporaryError (refused for now, or the
    answer lost with the outcome unknown) with backoff: the same arguments,
    so the same key, count once even if the first try was kept.  Turn the
    errors a bot cannot do anything about right now into BotError."""
    delay = 0.1
    for attempt in range(RETRIES + 1):
        try:
            return await fn(*args, **kwargs)
        except TemporaryError as e:
            if attempt == RETRIES:
                raise BotError(f"tokqd stayed busy after {RETRIES} retries: {e.error}")
            log(f"tokq is busy ({e.error}); retrying in {delay:.1f} s with the same key")
            await asyncio.sleep(delay)
            delay *= 2
        except (UsageError, InvalidData) as e:
            raise BotError(f"bug in the bot (tokq exit {e.exit}): {e.error}")
        except Unavailable as e:
            raise BotError(f"tokqd is not running or unreachable: {e.error}")
        except PermissionDenied as e:
            raise BotError(f"permission denied (is the bot's user in the right group?): {e.error}")
        except TokqError as e:
            raise BotError(f"tokq failed (exit {e.exit}): {e.error}")


class Bot:
    def __init__(self, tq: AsyncTokq) -> None:
        self.tq = tq
        self.failed = False

    async def on_message(self, message: Message) -> None:
        if message.author.bot:
            return
        try:
            await self.answer(message)
        except BotError as e:
            self.failed = True
            log(str(e))
            await message.reply("sorry, I cannot answer right now.")

    async def answer(self, message: Message) -> None:
        user, prompt = message.author.id, message.content
        check = await call(self.tq.check, user, guild=message.guild.id, model=MODEL,
                           tokens=estimate_tokens(prompt), reserve=True)
        if not check.allowed:
            rule = check.denied_by
            what = f"{rule.limit} {rule.metric} per {rule.window}"
            if check.retry_at:
                await message.reply(f"sorry, you have reached your limit ({what}); "
                                    f"try again after {check.retry_at}.")
            else:
                await message.reply(f"sorry, this request is larger than your limit ({what}).")
            return
        try:
            answer, usage = await fake_llm(prompt)
        except Exception:
            await call(self.tq.release, check.hold)    # the call failed: give the room back
            raise
        await message.reply(answer)
        rec = await call(self.tq.record, user, guild=message.guild.id, model=MODEL,
                         usage=usage, hold=check.hold, key=f"{RUN}-{message.id}")
        if rec.crossed is not None:
            await message.reply(f"heads-up: you have now used {rec.crossed} % of your quota.")

    async def show_usage(self, user: str) -> None:
        """What a /usage slash command would answer."""
        print(f"--- tokq usage --user {user}", flush=True)
        try:
            u = await call(self.tq.usage, user)
        except BotError as e:
            self.failed = True
            log(str(e))
            return
        for r in u.limits:
            print(f"  {r.metric} per {r.window} ({r.selector}): {r.used} of {r.limit} used, "
                  f"{r.remaining} left, resets {r.resets_at}", flush=True)
        for name in ("today", "30d"):
            p = u.periods[name]
            print(f"  {name}: {p.requests} requests, {p.total} tokens, ${p.cost_usd:.6f}",
                  flush=True)


async def main() -> int:
    ap = argparse.ArgumentParser(description="a tokq example bot")
    ap.add_argument("--socket", default=os.environ.get("TOKQ_SOCKET"),
                    help="tokqd's socket (default: $TOKQ_SOCKET, else tokq's default)")
    args = ap.parse_args()
    async with AsyncTokq(socket=args.socket, tokq=os.environ.get("TOKQ", "tokq")) as tq:
        bot = Bot(tq)
        for msg_id, user, prompt in SCRIPT:
            print(f"<{user}> {prompt}", flush=True)
            await bot.on_message(Message(msg_id, User(user), Guild(GUILD), prompt))
        for user in sorted({u for _, u, _ in SCRIPT}):
            await bot.show_usage(user)
    return 1 if bot.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
