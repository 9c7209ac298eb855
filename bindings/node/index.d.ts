// Types of the tokq package: the objects are those `tokq --json` prints
// (see tokq(1) and the contract's "Output and exit codes"), plus `exit`.

export type Id = string | number | bigint;
export type Num = number | bigint | string;

export interface Limit {
  selector: "user" | "members" | "plan" | "default" | "guild" | "global";
  subject: string | null;
  model: string | null;
  metric: "tokens" | "cost" | "requests";
  window: string;
  limit: number;
  used: number;
  held: number;
  remaining: number | null;
  percent: number;
  resets_at: string | null;
  [key: string]: unknown;
}

export interface Totals {
  requests: number;
  prompt: number;
  completion: number;
  total: number;
  cached: number;
  reasoning: number;
  cost_usd: number;
  [key: string]: unknown;
}

export interface Answer {
  /** tokq's exit code: 0, or 1 for a denied check. */
  exit: number;
  error?: string;
  [key: string]: unknown;
}

export interface CheckResult extends Answer {
  allowed: boolean;
  warning: 0 | 80 | 95 | 100 | number;
  limits: Limit[];
  denied_by: Limit | null;
  retry_at: string | null;
  bypass: boolean;
  hold?: string;
}

export interface RecordResult extends Answer {
  recorded: boolean;
  duplicate: boolean;
  event: number;
  prompt: number;
  completion: number;
  total: number;
  cost_usd: number;
  allowed: boolean;
  warning: number;
  crossed: 80 | 95 | 100 | number | null;
  limits: Limit[];
}

export interface UsageResult extends Answer {
  user: string;
  limits: Limit[];
  periods: { today: Totals; month: Totals; "30d": Totals; all: Totals };
  by_model: Array<Totals & { model: string }>;
}

export interface CheckOptions {
  user: Id;
  model?: string;
  tokens?: Num;
  cost?: Num;
  guild?: Id;
  channel?: Id;
  reserve?: boolean;
  ttl?: Num;
}

export interface RecordOptions {
  user: Id;
  model?: string;
  prompt?: Num;
  completion?: Num;
  /** A provider's usage object or response, a list of them, or its JSON text. */
  usage?: unknown;
  key?: string;
  hold?: string;
  guild?: Id;
  channel?: Id;
  cached?: Num;
  reasoning?: Num;
  cacheWrite?: Num;
  cache_write?: Num;
  total?: Num;
  cost?: Num;
  service?: string;
  kind?: string;
  session?: string;
  call?: Num;
  /** Any JSON value. */
  meta?: unknown;
}

export interface UsageOptions {
  user: Id;
  guild?: Id;
  model?: string;
}

export class Tokq {
  constructor(options?: { socket?: string; tokq?: string });
  readonly pid: number | null;
  check(o: CheckOptions): Promise<CheckResult>;
  record(o: RecordOptions): Promise<RecordResult>;
  release(hold: string): Promise<Answer>;
  usage(o: UsageOptions): Promise<UsageResult>;
  run(args: Array<string | number>): Promise<Answer>;
  close(): Promise<void>;
}

export class TokqError extends Error {
  exit: number;
  error: string;
  result: Answer;
}
/** 64: a missing, unknown or malformed argument, judged before sending. */
export class UsageError extends TokqError {}
/** 65: refused by tokqd (bad id, unknown hold, key reused with other fields). */
export class InvalidData extends TokqError {}
/** 69: tokqd unreachable, or tokq cannot be run. */
export class Unavailable extends TokqError {}
/** 70: internal error. */
export class InternalError extends TokqError {}
/** 75: refused for now, or the outcome is unknown: retry with the same key. */
export class TemporaryError extends TokqError {}
/** 77: an admin command from a non-admin. */
export class PermissionDenied extends TokqError {}
