#!/usr/bin/env node
// node_bot.js: a chat bot's quota handling with tokq, Node's standard library only.
//
// For each (user, prompt) of a built-in script the bot:
//   1. asks `tokq check --reserve --json` whether the user may make the call,
//      holding the estimate so that concurrent messages cannot overspend;
//   2. on exit 0 "calls the LLM" (a fake that returns an OpenAI-style usage
//      object) and records what it used with `tokq record --hold ID
//      --usage-json - --key KEY`; it warns the user once per threshold when
//      the reply's `crossed` is not null;
//   3. on exit 1 tells the user when there is room again (`retry_at`);
// and at the end it shows each user `tokq usage --user U`.
//
// Every exit code of tokq is handled: 64/65 are bugs in the bot, 69 means
// tokqd is not running (fail closed: no LLM call), 75 is retried with the
// same --key, 77 is a permission problem.
//
// Usage: node_bot.js [--socket PATH]        (or TOKQ_SOCKET=PATH)
//        TOKQ=/path/to/tokq node_bot.js     (default: tokq from PATH)
// Exit: 0 when every tokq call worked (denials included), 1 otherwise.
"use strict";

const { execFile } = require("node:child_process");
const { randomUUID } = require("node:crypto");

const GUILD = "guild-1";
const MODEL = "gpt-4o-mini";
const MAX_COMPLETION = 150;                   // the max_tokens the bot asks the LLM for
const RUN = randomUUID().slice(0, 8);         // keys must be unique per call, not per run

// [message id, user, prompt]: a Discord bot would get these from events.
const SCRIPT = [
  [1, "alice", "What is a token?"],
  [2, "bob", "Write a haiku about quotas."],
  [3, "bob", "Explain rolling windows versus calendar windows in detail."],
  [4, "alice", "Summarise the plot of Hamlet in two sentences."],
  [5, "bob", "And now a limerick about rate limits, please."],
  [6, "bob", "One more: a sonnet about running out of tokens."],
  [7, "alice", "Thanks!"],
];

// tokq failed for a reason other than a denial.
class TokqError extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Tokq {
  constructor(binary, socket) {
    this.binary = binary;
    this.socket = socket;
  }

  // Run tokq once: resolves to [exit code, JSON reply | stdout | stderr].
  run(args, stdin, jsonOut) {
    const argv = [];
    if (this.socket) argv.push("--socket", this.socket);
    if (jsonOut) argv.push("--json");
    argv.push(...args);
    return new Promise((resolve, reject) => {
      const child = execFile(this.binary, argv, { timeout: 30000 }, (err, stdout, stderr) => {
        if (err && typeof err.code === "string") {      // ENOENT, EACCES: no tokq to run
          reject(new TokqError(`${this.binary}: ${err.code} (install tokq or set TOKQ)`));
          return;
        }
        const code = err ? err.code : 0;
        if ((code === 0 || code === 1) && jsonOut) resolve([code, JSON.parse(stdout)]);
        else if (code === 0) resolve([0, stdout]);
        else resolve([code, stderr.trim()]);
      });
      child.stdin.on("error", () => {});                // tokq may exit before reading
      child.stdin.end(stdin || "");
    });
  }

  // Run tokq; retry exit 75 (refused for now, or the answer lost with the
  // outcome unknown) with backoff: the same arguments, so the same --key,
  // count once even if the first try was kept.  Throw TokqError for the codes
  // a bot cannot do anything about right now.
  async call(args, { stdin = null, jsonOut = true, retries = 5 } = {}) {
    let delay = 100, code, out;
    for (let attempt = 0; attempt <= retries; attempt++) {
      [code, out] = await this.run(args, stdin, jsonOut);
      if (code !== 75) break;
      if (attempt < retries) {
        log(`tokq is busy (${out}); retrying in ${(delay / 1000).toFixed(1)} s with the same key`);
        await sleep(delay);
        delay *= 2;
      }
    }
    if (code === 0 || code === 1) return [code, out];
    if (code === 64 || code === 65) throw new TokqError(`bug in the bot (tokq exit ${code}): ${out}`);
    if (code === 69) throw new TokqError(`tokqd is not running or unreachable: ${out}`);
    if (code === 75) throw new TokqError(`tokqd stayed busy after ${retries} retries: ${out}`);
    if (code === 77) {
      throw new TokqError(`permission denied (is the bot's user in the right group?): ${out}`);
    }
    throw new TokqError(`tokq failed (exit ${code}): ${out}`);
  }
}

function log(msg) {
  console.log(`  [bot] ${msg}`);
}

function say(user, msg) {
  console.log(`@${user}: ${msg}`);
}

// A cheap upper estimate: ~4 characters a token, plus the answer.
function estimateTokens(prompt) {
  return Math.floor(prompt.length / 4) + 20 + MAX_COMPLETION;
}

// Stands in for openai.chat.completions.create(...): a deterministic answer
// and an OpenAI-style usage object.
async function fakeLlm(prompt) {
  const promptTokens = Math.floor(prompt.length / 4) + 20;
  const completionTokens = 80 + 6 * (prompt.length % 11);
  const usage = {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
  return [`(an answer of ${completionTokens} tokens)`, usage];
}

async function handle(tq, msgId, user, prompt) {
  const [code, check] = await tq.call(["check", "--user", user, "--guild", GUILD,
    "--model", MODEL, "--tokens", String(estimateTokens(prompt)), "--reserve"]);
  if (code === 1) {
    const rule = check.denied_by;
    const what = `${rule.limit} ${rule.metric} per ${rule.window}`;
    if (check.retry_at) {
      say(user, `sorry, you have reached your limit (${what}); try again after ${check.retry_at}.`);
    } else {
      say(user, `sorry, this request is larger than your limit (${what}).`);
    }
    return;
  }
  const hold = check.hold;
  let answer, usage;
  try {
    [answer, usage] = await fakeLlm(prompt);
  } catch (e) {
    await tq.call(["release", hold]);     // the call failed: give the room back
    throw e;
  }
  say(user, answer);
  const [, rec] = await tq.call(["record", "--user", user, "--guild", GUILD, "--model", MODEL,
    "--hold", hold, "--usage-json", "-", "--key", `${RUN}-${msgId}`],
  { stdin: JSON.stringify(usage) });
  if (rec.crossed !== null) {
    say(user, `heads-up: you have now used ${rec.crossed} % of your quota.`);
  }
}

async function main() {
  let socket = process.env.TOKQ_SOCKET || null;
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--socket" && i + 1 < argv.length) socket = argv[++i];
    else if (argv[i].startsWith("--socket=")) socket = argv[i].slice(9);
    else {
      console.error("usage: node_bot.js [--socket PATH]");
      return 64;
    }
  }
  const tq = new Tokq(process.env.TOKQ || "tokq", socket);

  let failed = false;
  for (const [msgId, user, prompt] of SCRIPT) {
    console.log(`<${user}> ${prompt}`);
    try {
      await handle(tq, msgId, user, prompt);
    } catch (e) {
      if (!(e instanceof TokqError)) throw e;
      failed = true;
      log(e.message);
      say(user, "sorry, I cannot answer right now.");
    }
  }

  for (const user of [...new Set(SCRIPT.map(([, u]) => u))].sort()) {
    console.log(`--- tokq usage --user ${user}`);
    try {
      const [, text] = await tq.call(["usage", "--user", user], { jsonOut: false });
      process.stdout.write(text);
    } catch (e) {
      if (!(e instanceof TokqError)) throw e;
      failed = true;
      log(e.message);
    }
  }
  return failed ? 1 : 0;
}

main().then((rc) => { process.exitCode = rc; });
