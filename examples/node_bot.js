#!/usr/bin/env node
// node_bot.js: a chat bot's quota handling with tokq's Node library.
//
// Shaped like a discord.js bot (a messageCreate handler, message.reply),
// without discord.js: a built-in script of messages stands in for the
// gateway.  For each message the bot:
//   1. asks check({ ..., reserve: true }) whether the author may make the
//      call, holding the estimate so that concurrent messages cannot overspend;
//   2. if allowed, "calls the LLM" (a fake that returns an OpenAI-style usage
//      object) and records what it used with record({ usage, key, hold });
//      it warns the user once per threshold when the record's `crossed` is
//      not null;
//   3. if denied (the promise resolves, exit 1) tells the user the rule and
//      when there is room again (`retry_at`);
// and at the end it shows each user their usage.
//
// The library keeps one `tokq batch` co-process and pipelines every call
// over it: no process spawn per call.  Every error is handled:
// UsageError/InvalidData are bugs in the bot, Unavailable means tokqd is not
// running (fail closed: no LLM call), TemporaryError is retried with the
// same key (never counts twice), PermissionDenied is a permission problem.
//
// Usage: node_bot.js [--socket PATH]        (or TOKQ_SOCKET=PATH)
//        TOKQ=/path/to/tokq node_bot.js     (default: tokq from PATH)
// Exit: 0 when every tokq call worked (denials included), 1 otherwise.
"use strict";

const { randomUUID } = require("node:crypto");
const path = require("node:path");

let lib;
try {
  lib = require("tokq");
} catch {                                     // run from the source tree, not installed
  lib = require(path.join(__dirname, "..", "bindings", "node"));
}
const {
  Tokq, TokqError, UsageError, InvalidData, Unavailable, TemporaryError, PermissionDenied,
} = lib;

const GUILD = "guild-1";
const MODEL = "gpt-4o-mini";
const MAX_COMPLETION = 150;                   // the max_tokens the bot asks the LLM for
const RUN = randomUUID().slice(0, 8);         // keys must be unique per call, not per run
const RETRIES = 5;

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

// tokq failed for a reason other than a denial: the bot cannot go on.
class BotError extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function log(msg) {
  console.log(`  [bot] ${msg}`);
}

function say(user, msg) {
  console.log(`@${user}: ${msg}`);
}

// What discord.js would hand the bot.
function message(id, user, content) {
  return {
    id, content, author: { id: user, bot: false }, guild: { id: GUILD },
    reply: async (text) => say(user, text),
  };
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

// Await a tokq call; retry TemporaryError (refused for now, or the answer
// lost with the outcome unknown) with backoff: the same arguments, so the
// same key, count once even if the first try was kept.  Turn the errors a
// bot cannot do anything about right now into BotError.
async function call(fn) {
  let delay = 100;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof TemporaryError) {
        if (attempt === RETRIES) {
          throw new BotError(`tokqd stayed busy after ${RETRIES} retries: ${e.error}`);
        }
        log(`tokq is busy (${e.error}); retrying in ${(delay / 1000).toFixed(1)} s with the same key`);
        await sleep(delay);
        delay *= 2;
        continue;
      }
      if (e instanceof UsageError || e instanceof InvalidData) {
        throw new BotError(`bug in the bot (tokq exit ${e.exit}): ${e.error}`);
      }
      if (e instanceof Unavailable) throw new BotError(`tokqd is not running or unreachable: ${e.error}`);
      if (e instanceof PermissionDenied) {
        throw new BotError(`permission denied (is the bot's user in the right group?): ${e.error}`);
      }
      if (e instanceof TokqError) throw new BotError(`tokq failed (exit ${e.exit}): ${e.error}`);
      throw e;
    }
  }
}

class Bot {
  constructor(tq) {
    this.tq = tq;
    this.failed = false;
  }

  // client.on("messageCreate", (m) => bot.onMessage(m))
  async onMessage(msg) {
    if (msg.author.bot) return;
    try {
      await this.answer(msg);
    } catch (e) {
      if (!(e instanceof BotError)) throw e;
      this.failed = true;
      log(e.message);
      await msg.reply("sorry, I cannot answer right now.");
    }
  }

  async answer(msg) {
    const user = msg.author.id, prompt = msg.content;
    const check = await call(() => this.tq.check({ user, guild: msg.guild.id, model: MODEL,
      tokens: estimateTokens(prompt), reserve: true }));
    if (!check.allowed) {
      const rule = check.denied_by;
      const what = `${rule.limit} ${rule.metric} per ${rule.window}`;
      if (check.retry_at) {
        await msg.reply(`sorry, you have reached your limit (${what}); try again after ${check.retry_at}.`);
      } else {
        await msg.reply(`sorry, this request is larger than your limit (${what}).`);
      }
      return;
    }
    let answer, usage;
    try {
      [answer, usage] = await fakeLlm(prompt);
    } catch (e) {
      await call(() => this.tq.release(check.hold));  // the call failed: give the room back
      throw e;
    }
    await msg.reply(answer);
    const rec = await call(() => this.tq.record({ user, guild: msg.guild.id, model: MODEL,
      usage, hold: check.hold, key: `${RUN}-${msg.id}` }));
    if (rec.crossed !== null) {
      await msg.reply(`heads-up: you have now used ${rec.crossed} % of your quota.`);
    }
  }

  // What a /usage slash command would answer.
  async showUsage(user) {
    console.log(`--- tokq usage --user ${user}`);
    let u;
    try {
      u = await call(() => this.tq.usage({ user }));
    } catch (e) {
      if (!(e instanceof BotError)) throw e;
      this.failed = true;
      log(e.message);
      return;
    }
    for (const r of u.limits) {
      console.log(`  ${r.metric} per ${r.window} (${r.selector}): ${r.used} of ${r.limit} used, ` +
        `${r.remaining} left, resets ${r.resets_at}`);
    }
    for (const name of ["today", "30d"]) {
      const p = u.periods[name];
      console.log(`  ${name}: ${p.requests} requests, ${p.total} tokens, $${p.cost_usd.toFixed(6)}`);
    }
  }
}

async function main() {
  let socket = process.env.TOKQ_SOCKET || undefined;
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--socket" && i + 1 < argv.length) socket = argv[++i];
    else if (argv[i].startsWith("--socket=")) socket = argv[i].slice(9);
    else {
      console.error("usage: node_bot.js [--socket PATH]");
      return 64;
    }
  }
  const tq = new Tokq({ socket, tokq: process.env.TOKQ || "tokq" });
  const bot = new Bot(tq);
  try {
    for (const [id, user, prompt] of SCRIPT) {
      console.log(`<${user}> ${prompt}`);
      await bot.onMessage(message(id, user, prompt));
    }
    for (const user of [...new Set(SCRIPT.map(([, u]) => u))].sort()) await bot.showUsage(user);
  } finally {
    await tq.close();
  }
  return bot.failed ? 1 : 0;
}

main().then((rc) => { process.exitCode = rc; });
