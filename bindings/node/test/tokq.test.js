// The tokq package against a real tokqd on a temporary socket (the binaries
// from $TOKQ_BUILD, else the repository's build/; $TOKQ names another client).
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { spawn, execFileSync, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const {
  Tokq, TokqError, UsageError, InvalidData, Unavailable, InternalError, TemporaryError,
  PermissionDenied,
} = require("..");

const ROOT = path.resolve(__dirname, "../../..");
const BUILD = process.env.TOKQ_BUILD || path.join(ROOT, "build");
const TOKQ = process.env.TOKQ || path.join(BUILD, "tokq");
let dir, socket, daemon;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cli = (...args) => spawnSync(TOKQ, ["--socket", socket, ...args], { encoding: "utf8" });
const tq = (...args) => {
  const r = cli(...args);
  if (r.status !== 0) throw new Error(`tokq ${args.join(" ")}: ${r.stderr}`);
};
const tqj = (...args) => JSON.parse(cli("--json", ...args).stdout);

function script(name, body) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, `#!/usr/bin/env bash\n${body}`, { mode: 0o755 });
  return p;
}

// A tokq that runs the real `tokq batch` behind it but, the first time it
// meets a record line, passes it on, waits until it is kept, and dies
// without answering.
function dyingTokq() {
  const marker = path.join(dir, "died");
  try { fs.unlinkSync(marker); } catch { /* not there */ }
  return script("dying-tokq", `
coproc REAL { exec '${TOKQ}' "$@"; }
while IFS= read -r line; do
	printf '%s\\n' "$line" >&"\${REAL[1]}"
	IFS= read -r answer <&"\${REAL[0]}"
	if [[ $line == *'"record"'* && ! -e '${marker}' ]]; then : >'${marker}'; exit 3; fi
	printf '%s\\n' "$answer"
done
`);
}

// A tokq whose batch answers the i-th line with answers[i].
function cannedTokq(answers) {
  const lines = answers.map((a) => `'${JSON.stringify(a)}'`).join(" ");
  return script("canned-tokq", `
a=(${lines}); i=0
while IFS= read -r line; do printf '%s\\n' "\${a[i % \${#a[@]}]}"; i=$((i + 1)); done
`);
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tokq-node."));
  socket = path.join(dir, "s");
  daemon = spawn(path.join(BUILD, "tokqd"), ["--socket", socket, "--db", path.join(dir, "db"),
    "--test-clock"], { stdio: "ignore" });
  for (let i = 0; i < 200 && cli("status").status !== 0; i++) await sleep(25);
  tq("clock", "set", "2026-12-01T10:00:00Z");
  tq("limit", "set", "--default", "--tokens", "1000", "--per", "day");
  tq("limit", "set", "--user", "bob", "--tokens", "100", "--per", "day");
});

after(async () => {
  daemon.kill("SIGTERM");
  await new Promise((r) => daemon.on("exit", r));
  fs.rmSync(dir, { recursive: true, force: true });
});

test("an allowed check resolves to the documented object", async () => {
  const t = new Tokq({ socket, tokq: TOKQ });
  const r = await t.check({ user: "alice", model: "gpt-4o-mini", tokens: 10 });
  assert.equal(r.exit, 0);
  assert.equal(r.allowed, true);
  assert.equal(r.denied_by, null);
  assert.equal(r.limits[0].selector, "default");
  await t.close();
});

test("a denied check resolves (exit 1), naming the rule", async () => {
  const t = new Tokq({ socket, tokq: TOKQ });
  const r = await t.check({ user: "bob", tokens: 500, guild: "g1", channel: 7 });
  assert.equal(r.exit, 1);
  assert.equal(r.allowed, false);
  assert.deepEqual([r.denied_by.selector, r.denied_by.limit, r.denied_by.window],
    ["user", 100, "day"]);
  assert.ok("retry_at" in r);
  await t.close();
});

test("reserve, record with hold and key, warned once, duplicate counts nothing", async () => {
  const t = new Tokq({ socket, tokq: TOKQ });
  const c = await t.check({ user: "carol", model: "m1", tokens: 900, reserve: true, ttl: 60 });
  assert.equal(typeof c.hold, "string");
  assert.equal(tqj("status").holds, 1);
  const usage = { prompt_tokens: 700, completion_tokens: 150, total_tokens: 850 };
  const o = { user: "carol", model: "m1", usage, key: "carol-1", hold: c.hold, meta: { m: 1 },
    service: "chat", session: "s1", call: 0 };
  const rec = await t.record(o);
  assert.deepEqual([rec.recorded, rec.duplicate, rec.total, rec.crossed], [true, false, 850, 80]);
  assert.equal(tqj("status").holds, 0);
  assert.equal((await t.record(o)).duplicate, true);
  const u = await t.usage({ user: "carol" });
  assert.deepEqual([u.periods.all.requests, u.periods["30d"].total], [1, 850]);
  const r2 = await t.record({ user: "carol", model: "m1", prompt: 10, completion: 5,
    cacheWrite: 1, cost: 0.0000001 });
  assert.deepEqual([r2.total, r2.crossed, r2.cost_usd], [15, null, 1e-7]);
  await t.close();
});

test("usage as JSON text; release; unknown hold rejects with InvalidData", async () => {
  const t = new Tokq({ socket, tokq: TOKQ });
  const rec = await t.record({ user: "dave", model: "m2", guild: "g2",
    usage: '{"input_tokens": 30, "output_tokens": 20}' });
  assert.deepEqual([rec.prompt, rec.completion], [30, 20]);
  assert.equal((await t.usage({ user: "dave", guild: "g2", model: "m2" })).periods.all.total, 50);
  const { hold } = await t.check({ user: "dave", tokens: 5, reserve: true });
  assert.equal((await t.release(hold)).exit, 0);
  await assert.rejects(t.release(hold), (e) => e instanceof InvalidData && e.exit === 65 &&
    e instanceof TokqError && /hold/.test(e.error) && e.result.exit === 65);
  await t.close();
});

test("a usage error rejects with UsageError and the batch goes on", async () => {
  const t = new Tokq({ socket, tokq: TOKQ });
  await assert.rejects(t.check({ user: "frank", tokens: -5 }),
    (e) => e instanceof UsageError && e.exit === 64 && /--tokens/.test(e.message));
  await assert.rejects(t.run(["no-such-command"]), UsageError);
  assert.equal((await t.check({ user: "frank" })).allowed, true);
  const rules = (await t.run(["limit", "list"])).rules;
  assert.ok(rules.some((r) => r.selector === "user" && r.subject === "bob" && r.limit === 100));
  await t.close();
});

test("no tokqd, or no tokq: Unavailable", async () => {
  const t = new Tokq({ socket: path.join(dir, "nothing-here"), tokq: TOKQ });
  await assert.rejects(t.check({ user: "alice" }),
    (e) => e instanceof Unavailable && e.exit === 69 && /nothing-here/.test(e.error));
  await t.close();
  const n = new Tokq({ tokq: "tokq-does-not-exist-here" });
  await assert.rejects(n.check({ user: "alice" }), Unavailable);
  await n.close();
});

test("an admin command from a non-admin rejects with PermissionDenied",
  { skip: process.getuid() !== 0 && "needs root to run tokq as nobody" }, async () => {
    fs.chmodSync(dir, 0o711);
    fs.chmodSync(socket, 0o666);
    const nobody = script("tokq-as-nobody",
      `exec setpriv --reuid=nobody --regid=nogroup --clear-groups '${TOKQ}' "$@"\n`);
    const t = new Tokq({ socket, tokq: nobody });
    assert.equal((await t.check({ user: "alice" })).allowed, true);
    await assert.rejects(t.run(["limit", "set", "--global", "--tokens", 1, "--per", "day"]),
      (e) => e instanceof PermissionDenied && e.exit === 77);
    await t.close();
    assert.ok(!tqj("limit", "list").rules.some((r) => r.selector === "global"));
  });

test("each exit code rejects with its class", async () => {
  const table = [[64, UsageError], [65, InvalidData], [69, Unavailable], [70, InternalError],
    [75, TemporaryError], [77, PermissionDenied], [99, TokqError]];
  const t = new Tokq({ tokq: cannedTokq(table.map(([c]) => ({ exit: c, error: `failed ${c}` }))) });
  for (const [code, Cls] of table) {
    await assert.rejects(t.check({ user: "alice" }), (e) => e.constructor === Cls &&
      e.exit === code && e.error === `failed ${code}` && e.result.exit === code);
  }
  await t.close();
  const g = new Tokq({ tokq: cannedTokq(["not an object"]) });
  await assert.rejects(g.check({ user: "alice" }), InternalError);
  await g.close();
});

test("200 concurrent calls are answered in order over one co-process", async () => {
  const t = new Tokq({ socket, tokq: TOKQ });
  const n = 200, idx = [...Array(n).keys()];
  const recs = await Promise.all(idx.map((i) => t.record({ user: `a${i}`, model: "m",
    prompt: i, completion: 0, key: `a${i}` })));
  assert.deepEqual(recs.map((r) => r.total), idx);
  const pid = t.pid;
  const checks = await Promise.all(idx.map((i) => t.check({ user: `a${i}`,
    tokens: 990 - i + 20 * (i % 2) })));
  assert.deepEqual(checks.map((c) => c.allowed), idx.map((i) => i % 2 === 0));
  assert.deepEqual(checks.map((c) => c.limits[0].used), idx);
  const usages = await Promise.all(idx.map((i) => t.usage({ user: `a${i}` })));
  assert.deepEqual(usages.map((u) => [u.user, u.periods.all.prompt]), idx.map((i) => [`a${i}`, i]));
  assert.equal(t.pid, pid);
  await t.close();
});

test("a death in flight rejects pending calls with TemporaryError; the retry counts once",
  async () => {
    const t = new Tokq({ socket, tokq: dyingTokq() });
    await t.check({ user: "mike" });
    const pid = t.pid;
    const before1 = [1, 2, 3].map(() => t.check({ user: "mike" }));
    const rec = t.record({ user: "mike", model: "m1", prompt: 30, completion: 3, key: "mike-1" });
    const after1 = [1, 2, 3].map(() => t.check({ user: "mike" }));
    const out = await Promise.allSettled([...before1, rec, ...after1]);
    assert.ok(out.slice(0, 3).every((o) => o.status === "fulfilled" && o.value.allowed));
    assert.ok(out[3].status === "rejected" && out[3].reason instanceof TemporaryError &&
      out[3].reason.result.temporary === "unknown");
    // Those written after it are lost with it, or answered by the next
    // co-process if they were written after it died.
    assert.ok(out.slice(4).every((o) => (o.status === "rejected" &&
      o.reason instanceof TemporaryError) || o.value.allowed));
    const again = await t.record({ user: "mike", model: "m1", prompt: 30, completion: 3,
      key: "mike-1" });
    assert.equal(again.duplicate, true);
    assert.notEqual(t.pid, pid);
    await t.close();
    assert.equal(tqj("usage", "--user", "mike").periods.all.total, 33);
  });

test("a killed co-process is restarted at the next call", async () => {
  const t = new Tokq({ socket, tokq: TOKQ });
  await t.check({ user: "nina" });
  const pid = t.pid;
  const dead = t.child.closed;
  process.kill(pid, "SIGKILL");
  await dead;
  assert.equal((await t.check({ user: "nina" })).allowed, true);
  assert.notEqual(t.pid, pid);
  await t.close();
});

test("close answers the calls in flight, then refuses", async () => {
  const t = new Tokq({ socket, tokq: TOKQ });
  const calls = [...Array(50).keys()].map((i) => t.check({ user: `o${i}` }));
  const child = t.child;
  await t.close();
  assert.ok((await Promise.all(calls)).every((r) => r.allowed));
  assert.equal(child.proc.exitCode, 0);
  await assert.rejects(t.check({ user: "o1" }), /closed/);
});

test("TOKQ_SOCKET passes through", async () => {
  const old = process.env.TOKQ_SOCKET;
  process.env.TOKQ_SOCKET = socket;
  try {
    const t = new Tokq({ tokq: TOKQ });
    assert.equal((await t.run(["status"])).socket, socket);
    await t.close();
  } finally {
    if (old === undefined) delete process.env.TOKQ_SOCKET; else process.env.TOKQ_SOCKET = old;
  }
});

test("an idle co-process does not keep Node running", () => {
  const prog = `const { Tokq } = require(${JSON.stringify(path.resolve(__dirname, ".."))});
    new Tokq({ socket: ${JSON.stringify(socket)}, tokq: ${JSON.stringify(TOKQ)} })
      .check({ user: "pat" }).then((r) => console.log(r.allowed));`;
  const out = execFileSync(process.execPath, ["-e", prog], { encoding: "utf8", timeout: 10000 });
  assert.equal(out.trim(), "true");
});
