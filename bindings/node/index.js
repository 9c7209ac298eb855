// tokq: token quotas for LLM chat bots, from Node (>= 18, no dependencies).
//
// A Tokq object keeps one `tokq batch` co-process and writes it one line per
// call: a JSON array of the arguments that would follow `tokq`.  The
// co-process answers one line per request, in order: the object
// `tokq --json` prints plus "exit" (and "error" on failure), so a FIFO of
// pending promises matches answers to calls, and any number of calls may be
// in flight at once.  Exit 0 and 1 (a denied check) resolve to that object;
// any other exit rejects with the TokqError subclass of its code.  If the
// co-process dies, the calls in flight reject with TemporaryError (the
// outcome is unknown; a retry with the same key is safe) and the next call
// starts a new one.
"use strict";

const { spawn } = require("node:child_process");
const readline = require("node:readline");

class TokqError extends Error {
  // error: tokq's one-line message; result: the whole answer ({exit, error, ...}).
  constructor(error, result, exit) {
    super(error);
    this.name = new.target.name;
    this.exit = exit ?? new.target.exitCode ?? 70;
    this.error = error;
    this.result = result ?? { exit: this.exit, error };
  }
}
class UsageError extends TokqError { static exitCode = 64; }
class InvalidData extends TokqError { static exitCode = 65; }
class Unavailable extends TokqError { static exitCode = 69; }
class InternalError extends TokqError { static exitCode = 70; }
class TemporaryError extends TokqError { static exitCode = 75; }
class PermissionDenied extends TokqError { static exitCode = 77; }

const ERRORS = new Map([UsageError, InvalidData, Unavailable, InternalError, TemporaryError,
  PermissionDenied].map((c) => [c.exitCode, c]));

// The answer for exit 0 and 1, else the error of its exit code.
function outcome(r) {
  if (r.exit === 0 || r.exit === 1) return r;
  const Cls = ERRORS.get(r.exit) || TokqError;
  return new Cls(String(r.error || `tokq: exit ${r.exit}`), r, r.exit);
}

function lost(why) {
  const msg = `tokq batch ${why}; the outcome is unknown (a retry with the same key is safe)`;
  return new TemporaryError(msg, { exit: 75, error: msg, temporary: "unknown" });
}

// A count or dollar amount as tokq reads it: no exponent (1e-7 -> "0.0000001").
function number(v) {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") {
    if (Number.isInteger(v) && Math.abs(v) < 1e21) return String(v);
    if (Number.isFinite(v) && Math.abs(v) < 1e21) {
      const s = v.toFixed(9);
      return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
    }
  }
  return String(v);
}

function opt(args, flag, v) {
  if (v === undefined || v === null) return;
  args.push(flag, typeof v === "number" || typeof v === "bigint" ? number(v) : String(v));
}

function checkArgs(o) {
  const a = ["check", "--user", String(o.user)];
  opt(a, "--guild", o.guild);
  opt(a, "--channel", o.channel);
  opt(a, "--model", o.model);
  opt(a, "--tokens", o.tokens);
  opt(a, "--cost", o.cost);
  if (o.reserve) a.push("--reserve");
  opt(a, "--ttl", o.ttl);
  return a;
}

function recordArgs(o) {
  const a = ["record", "--user", String(o.user)];
  opt(a, "--guild", o.guild);
  opt(a, "--channel", o.channel);
  opt(a, "--model", o.model);
  opt(a, "--prompt", o.prompt);
  opt(a, "--completion", o.completion);
  opt(a, "--total", o.total);
  opt(a, "--cached", o.cached);
  opt(a, "--cache-write", o.cacheWrite ?? o.cache_write);
  opt(a, "--reasoning", o.reasoning);
  opt(a, "--cost", o.cost);
  opt(a, "--service", o.service);
  opt(a, "--kind", o.kind);
  opt(a, "--session", o.session);
  opt(a, "--call", o.call);
  if (o.meta !== undefined) a.push("--meta", JSON.stringify(o.meta));
  opt(a, "--key", o.key);
  opt(a, "--hold", o.hold);
  if (o.usage !== undefined && o.usage !== null) {
    // The document itself: a batch never reads a file or stdin.
    a.push("--usage-json", typeof o.usage === "string" ? o.usage : JSON.stringify(o.usage));
  }
  return a;
}

function usageArgs(o) {
  const a = ["usage", "--user", String(o.user)];
  opt(a, "--guild", o.guild);
  opt(a, "--model", o.model);
  return a;
}

// One co-process, the callbacks of its unanswered lines, in order.
class Child {
  constructor(tokq, env) {
    this.pending = [];
    this.head = 0;
    this.dead = false;
    this.proc = spawn(tokq, ["batch"], { stdio: ["pipe", "pipe", "inherit"], env });
    this.closed = new Promise((resolve) => {
      this.proc.on("close", (code, signal) => {
        this.dead = true;
        const status = signal || `status ${code}`;
        this.fail(() => lost(`exited (${status}) before it answered`));
        resolve();
      });
    });
    this.proc.on("error", (e) => {    // ENOENT, EACCES: there is no tokq to run
      this.dead = true;
      const err = e.code === "ENOENT" || e.code === "EACCES"
        ? new Unavailable(`cannot run ${tokq}: ${e.code === "ENOENT" ? "not found" : e.code}`)
        : lost(`failed: ${e.message}`);
      this.fail(() => err);
    });
    this.proc.stdin.on("error", () => {});  // EPIPE: "close" tells the calls
    readline.createInterface({ input: this.proc.stdout, crlfDelay: Infinity })
      .on("line", (line) => this.answer(line));
    this.idle();
  }

  answer(line) {
    if (this.head >= this.pending.length) return;   // nobody asked: not ours to keep
    const p = this.pending[this.head];
    this.pending[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    let r;
    try {
      r = JSON.parse(line);
    } catch {
      r = null;
    }
    if (r === null || typeof r !== "object" || Array.isArray(r) || !Number.isInteger(r.exit)) {
      p.reject(new InternalError(`tokq batch: not an answer: ${JSON.stringify(line.slice(0, 200))}`));
    } else {
      const o = outcome(r);
      if (o instanceof Error) p.reject(o); else p.resolve(o);
    }
    if (this.head >= this.pending.length) this.idle();
  }

  fail(err) {
    while (this.head < this.pending.length) {
      const p = this.pending[this.head];
      this.pending[this.head++] = undefined;
      p.reject(err());
    }
  }

  send(line) {
    return new Promise((resolve, reject) => {
      if (this.head >= this.pending.length) this.busy();
      this.pending.push({ resolve, reject });
      this.proc.stdin.write(line);
    });
  }

  // An idle co-process does not keep Node running; one with calls in flight does.
  idle() { this.ref(false); }
  busy() { this.ref(true); }
  ref(on) {
    for (const h of [this.proc, this.proc.stdin, this.proc.stdout]) {
      if (h && typeof h.ref === "function") (on ? h.ref() : h.unref());
    }
  }
}

class Tokq {
  // socket: sets TOKQ_SOCKET for the co-process (else ours passes through,
  // else tokq's default); tokq: the client's name on PATH or a path.
  constructor({ socket, tokq = "tokq" } = {}) {
    this.socket = socket;
    this.tokq = tokq;
    this.child = null;
    this.closing = false;
  }

  live() {
    if (!this.child || this.child.dead) {
      const env = { ...process.env };
      if (this.socket !== undefined && this.socket !== null) env.TOKQ_SOCKET = String(this.socket);
      this.child = new Child(this.tokq, env);
    }
    return this.child;
  }

  // Any tokq command: run(["limit", "list"]) resolves to what
  // `tokq --json limit list` prints, plus "exit".
  run(args) {
    if (this.closing) return Promise.reject(new Error("tokq: the client is closed"));
    const line = JSON.stringify(args.map(String)) + "\n";
    return this.live().send(line);
  }

  check(o) { return this.run(checkArgs(o)); }

  record(o) { return this.run(recordArgs(o)); }

  release(hold) { return this.run(["release", hold]); }

  usage(o) { return this.run(usageArgs(o)); }

  // The co-process's pid, or null before the first call.
  get pid() { return this.child ? this.child.proc.pid ?? null : null; }

  // End the co-process after it has answered every call in flight.
  async close() {
    this.closing = true;
    const c = this.child;
    this.child = null;
    if (!c) return;
    c.busy();
    c.proc.stdin.end();
    const timer = setTimeout(() => c.proc.kill("SIGKILL"), 10000);
    await c.closed;
    clearTimeout(timer);
  }
}

module.exports = {
  Tokq, TokqError, UsageError, InvalidData, Unavailable, InternalError, TemporaryError,
  PermissionDenied,
};
