#!/usr/bin/env python3
"""python_bot.py: a chat bot's quota handling with tokq, standard library only.

For each (user, prompt) of a built-in script the bot:
  1. asks `tokq check --reserve --json` whether the user may make the call,
     holding the estimate so that concurrent messages cannot overspend;
  2. on exit 0 "calls the LLM" (a fake that returns an OpenAI-style usage
     object) and records what it used with `tokq record --hold ID
     --usage-json - --key KEY`; it warns the user once per threshold when
     the reply's `crossed` is not null;
  3. on exit 1 tells the user when there is room again (`retry_at`);
and at the end it shows each user `tokq usage --user U`.

Every exit code of tokq is handled: 64/65 are bugs in the bot, 69 means
tokqd is not running (fail closed: no LLM call), 75 is retried with the
same --key, 77 is a permission problem.

Usage: python_bot.py [--socket PATH]       (or TOKQ_SOCKET=PATH)
       TOKQ=/path/to/tokq python_bot.py    (default: tokq from PATH)
Exit: 0 when every tokq call worked (denials included), 1 otherwise.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import uuid

GUILD = "guild-1"
MODEL = "gpt-4o-mini"
MAX_COMPLETION = 150            # the max_tokens the bot asks the LLM for
RUN = uuid.uuid4().hex[:8]      # keys must be unique per call, not per run

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


class TokqError(Exception):
    """tokq failed for a reason other than a denial."""


class Tokq:
    """Runs the tokq client; every call returns (exit code, JSON reply)."""

    def __init__(self, binary, socket):
        self.binary = binary
        self.socket = socket

    def run(self, args, stdin=None, json_out=True):
        cmd = [self.binary]
        if self.socket:
            cmd += ["--socket", self.socket]
        if json_out:
            cmd.append("--json")
        try:
            r = subprocess.run(cmd + args, input=stdin, capture_output=True,
                               text=True, timeout=30)
        except FileNotFoundError:
            raise TokqError(f"{self.binary}: not found (install tokq or set TOKQ)")
        if r.returncode in (0, 1) and json_out:
            return r.returncode, json.loads(r.stdout)
        if r.returncode == 0:
            return 0, r.stdout
        return r.returncode, r.stderr.strip()

    def call(self, args, stdin=None, json_out=True, retries=5):
        """Run tokq; retry exit 75 (refused for now, or the answer lost with
        the outcome unknown) with backoff: the same arguments, so the same
        --key, count once even if the first try was kept.  Raise TokqError for the
        codes a bot cannot do anything about right now."""
        delay = 0.1
        for attempt in range(retries + 1):
            code, out = self.run(args, stdin, json_out)
            if code != 75:
                break
            if attempt < retries:
                log(f"tokq is busy ({out}); retrying in {delay:.1f} s with the same key")
                time.sleep(delay)
                delay *= 2
        if code in (0, 1):
            return code, out
        if code in (64, 65):
            raise TokqError(f"bug in the bot (tokq exit {code}): {out}")
        if code == 69:
            raise TokqError(f"tokqd is not running or unreachable: {out}")
        if code == 75:
            raise TokqError(f"tokqd stayed busy after {retries} retries: {out}")
        if code == 77:
            raise TokqError(f"permission denied (is the bot's user in the right group?): {out}")
        raise TokqError(f"tokq failed (exit {code}): {out}")


def log(msg):
    print(f"  [bot] {msg}", flush=True)


def say(user, msg):
    print(f"@{user}: {msg}", flush=True)


def estimate_tokens(prompt):
    """A cheap upper estimate: ~4 characters a token, plus the answer."""
    return len(prompt) // 4 + 20 + MAX_COMPLETION


def fake_llm(prompt):
    """Stands in for client.chat.completions.create(...): a deterministic
    answer and an OpenAI-style usage object."""
    prompt_tokens = len(prompt) // 4 + 20
    completion_tokens = 80 + 6 * (len(prompt) % 11)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    return f"(an answer of {completion_tokens} tokens)", usage


def handle(tq, msg_id, user, prompt):
    code, check = tq.call(["check", "--user", user, "--guild", GUILD, "--model", MODEL,
                           "--tokens", str(estimate_tokens(prompt)), "--reserve"])
    if code == 1:
        rule = check["denied_by"]
        when = check.get("retry_at")
        what = f"{rule['limit']} {rule['metric']} per {rule['window']}"
        if when:
            say(user, f"sorry, you have reached your limit ({what}); try again after {when}.")
        else:
            say(user, f"sorry, this request is larger than your limit ({what}).")
        return
    hold = check["hold"]
    try:
        answer, usage = fake_llm(prompt)
    except Exception:
        tq.call(["release", hold])      # the call failed: give the room back
        raise
    say(user, answer)
    _, rec = tq.call(["record", "--user", user, "--guild", GUILD, "--model", MODEL,
                      "--hold", hold, "--usage-json", "-", "--key", f"{RUN}-{msg_id}"],
                     stdin=json.dumps(usage))
    if rec["crossed"] is not None:
        say(user, f"heads-up: you have now used {rec['crossed']} % of your quota.")


def main():
    ap = argparse.ArgumentParser(description="a tokq example bot")
    ap.add_argument("--socket", default=os.environ.get("TOKQ_SOCKET"),
                    help="tokqd's socket (default: $TOKQ_SOCKET, else tokq's default)")
    args = ap.parse_args()
    tq = Tokq(os.environ.get("TOKQ", "tokq"), args.socket)

    failed = False
    for msg_id, user, prompt in SCRIPT:
        print(f"<{user}> {prompt}", flush=True)
        try:
            handle(tq, msg_id, user, prompt)
        except TokqError as e:
            failed = True
            log(str(e))
            say(user, "sorry, I cannot answer right now.")

    for user in sorted({u for _, u, _ in SCRIPT}):
        print(f"--- tokq usage --user {user}", flush=True)
        try:
            _, text = tq.call(["usage", "--user", user], json_out=False)
            print(text, end="", flush=True)
        except TokqError as e:
            failed = True
            log(str(e))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
