#!/usr/bin/env bash
# Limits that no input can fool (contract, Values).  One event carries at
# most 10^12 tokens in any count and $1,000,000 of cost, a check's estimate
# the same; limits at most 10^15 tokens or requests and $10^9; every other
# integer has its bound.  The daemon refuses anything beyond with code 2
# (exit 65) on every path that reaches it: the raw protocol (driven by
# tests/tools/raw_request.py, since the client may refuse such values
# before sending), import rows and usage JSON.  A total below prompt +
# completion is refused too.  Every sum saturates: a database that already
# holds huge values gives views that answer, and checks that deny.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq python3

MAX=9223372036854775807
raw() { out=$(python3 "$TEST_ROOT/tests/tools/raw_request.py" "$SOCK" "$1"); rc=$?; }
code() { jqv .code; }
events() { "$TOKQ" --socket "$SOCK" --json status | jq -r .events_all_time; }
# refused WHAT JSON: the raw request is refused with code 2 and keeps nothing
refused() {
	local e0
	e0=$(events)
	raw "$2"
	is "$(code)" 2 "$1: refused, code 2 (invalid)"
	like "$(jqv .error)" '.{10,}' "$1: the error says why"
	is "$(events)" "$e0" "$1: nothing recorded"
}

start_tokqd
tq clock set 2026-12-01T10:00:00Z

# --- the issue's reproductions ---------------------------------------------------
tq limit set --user x --tokens 1000
tq record --user x --model m --prompt 10
refused "check of INT64_MAX tokens with reserve" \
	"{\"op\":\"check\",\"user\":\"x\",\"model\":\"m\",\"tokens\":$MAX,\"reserve\":true}"
tqj status
is "$(jqv .holds)" 0 "no hold was granted"
refused "check of 2^64-1 tokens" '{"op":"check","user":"x","tokens":18446744073709551615}'
tqj check --user x --model m --tokens 1000000000000 --reserve
is "$rc $(jqv .allowed) $(jqv .retry_at) $(jqv .hold)" "1 false null null" \
	"a check of 10^12 tokens (valid, over the limit): denied, retry_at null, no hold"

refused "record with total INT64_MAX" \
	"{\"op\":\"record\",\"user\":\"z\",\"model\":\"m\",\"prompt\":1,\"completion\":1,\"total\":$MAX}"
refused "record with prompt INT64_MAX and completion 1" \
	"{\"op\":\"record\",\"user\":\"z\",\"model\":\"m\",\"prompt\":$MAX,\"completion\":1}"
refused "record with prompt 10^12 + 1" \
	'{"op":"record","user":"z","model":"m","prompt":1000000000001}'
refused "record with prompt and completion 10^12: the total is over" \
	'{"op":"record","user":"z","model":"m","prompt":1000000000000,"completion":1000000000000}'
refused "record with a cost over \$1M" '{"op":"record","user":"z","model":"m","prompt":1,"cost":1000000.5}'
refused "record with a total below prompt + completion" \
	'{"op":"record","user":"z","model":"m","prompt":10,"completion":5,"total":14}'
refused "record with cached and no prompt" '{"op":"record","user":"z","model":"m","cached":5}'
tq record --user z --model m --prompt 10 --completion 5 --total 14
is "$rc" 65 "the client's record with --total below prompt + completion: exit 65"
tqj record --user z --model m --prompt 1000000000000 --completion 0 --cached 1000000000000
is "$rc $(jqv .total)" "0 1000000000000" "an event of 10^12 tokens is kept"
tqj record --user z --model m --prompt 1 --completion 1
tqj usage --user z
is "$(jqv '.periods.all | [.requests, .total] | join(" ")')" "2 1000000000002" \
	"usage adds them up, never negative"

# --- usage JSON: the daemon checks the final events, whatever normalised them ---
printf '{"usage":{"prompt_tokens":5000000000000000000,"completion_tokens":5000000000000000000}}' >"$T/huge.json"
e0=$(events)
tq record --user z --model m --usage-json "$T/huge.json"
is "$rc" 65 "--usage-json of 5e18 + 5e18 tokens: exit 65"
printf '[{"prompt_tokens":600000000000,"completion_tokens":600000000000},{"prompt_tokens":1,"completion_tokens":1}]' >"$T/over.json"
tq record --user z --model m --usage-json "$T/over.json"
is "$rc" 65 "--usage-json with an item whose total passes 10^12: exit 65"
refused "usage_json with 2^63 prompt tokens (raw)" \
	'{"op":"record","user":"z","model":"m","usage_json":"{\"prompt_tokens\":9223372036854775808,\"completion_tokens\":1}"}'
is "$(events)" "$e0" "no usage JSON above was kept, not even in part"

# --- import rows ----------------------------------------------------------------
printf '{"at":"2026-12-01T09:00:00Z","user":"i","model":"m","prompt":%s,"completion":1}\n' "$MAX" >"$T/imp1.jsonl"
tq import "$T/imp1.jsonl"
is "$rc" 65 "import of a row with INT64_MAX prompt tokens: exit 65"
printf '{"at":"2026-12-01T09:00:00Z","user":"i","model":"m","prompt":10,"completion":5,"total":3}\n' >"$T/imp2.jsonl"
tq import "$T/imp2.jsonl"
is "$rc" 65 "import of a row with a total below prompt + completion: exit 65"
refused "import of 5e18 + 5e18 tokens (raw)" \
	'{"op":"import","events":[{"at":1796115600,"user":"i","prompt":5000000000000000000,"completion":5000000000000000000}]}'
refused "import of 2^64-1 tokens (raw)" \
	'{"op":"import","events":[{"at":1796115600,"user":"i","prompt":18446744073709551615}]}'
refused "import of a cost over \$1M (raw)" \
	'{"op":"import","events":[{"at":1796115600,"user":"i","prompt":1,"cost":2000000}]}'
refused "import with a call index past 10^9 (raw)" \
	'{"op":"import","events":[{"at":1796115600,"user":"i","prompt":1,"call":1000000001}]}'
refused "import of a time past 9999 (raw)" \
	'{"op":"import","events":[{"at":253402300800,"user":"i","prompt":1}]}'
refused "import of a time before 1970 (raw): invalid, as record's" \
	'{"op":"import","events":[{"at":-1,"user":"i","prompt":1}]}'
refused "import of a negative cost (raw): invalid, as record's" \
	'{"op":"import","events":[{"at":1796115600,"user":"i","prompt":1,"cost":-1}]}'

# --- prices: the cost is computed without overflow, then bounded ------------------
tq price set dear --input 1000000 --output 1000000
is "$rc" 0 "a price of \$1M per 1M tokens is the largest"
refused "a price over \$1M per 1M tokens (raw)" '{"op":"price_set","model":"dear2","input":1000001,"output":1}'
refused "record of 10^12 tokens at \$1M per 1M: \$10^12 of cost" \
	'{"op":"record","user":"p","model":"dear","prompt":1000000000000}'
raw '{"op":"check","user":"p","model":"dear","tokens":1000000000000}'
is "$(code)" 2 "a check whose estimate costs \$10^12 at the price: code 2"
tq record --user p --model dear --prompt 1000000
is "$rc" 0 "1M tokens at \$1M per 1M: \$1M, the largest cost, kept"

# --- limits and the other integers ----------------------------------------------------
refused "a tokens limit of 10^15 + 1" '{"op":"limit_set","selector":"user","subject":"l","metric":"tokens","limit":1000000000000001}'
refused "a requests limit of INT64_MAX" "{\"op\":\"limit_set\",\"selector\":\"user\",\"subject\":\"l\",\"metric\":\"requests\",\"limit\":$MAX}"
refused "a cost limit of \$10^9 + 1" '{"op":"limit_set","selector":"user","subject":"l","metric":"cost","limit":1000000001}'
refused "a cost limit of 1e300 USD" '{"op":"limit_set","selector":"user","subject":"l","metric":"cost","limit":1e300}'
refused "a limit of -2" '{"op":"limit_set","selector":"user","subject":"l","metric":"tokens","limit":-2}'
raw '{"op":"limit_set","selector":"user","subject":"l","metric":"tokens","limit":1000000000000000}'
is "$(code)" 0 "a tokens limit of 10^15 is the largest"
raw '{"op":"limit_set","selector":"user","subject":"l","metric":"cost","limit":1000000000}'
is "$(code)" 0 "a cost limit of \$10^9 is the largest"
tq limit list --user l
refused "a ttl of 86401 s" '{"op":"check","user":"x","reserve":true,"ttl":86401}'
refused "a call index of 10^9 + 1" '{"op":"record","user":"z","model":"m","prompt":1,"call":1000000001}'
refused "record at a time past 9999" '{"op":"record","user":"z","model":"m","prompt":1,"at":253402300800}'
refused "record at a negative time" '{"op":"record","user":"z","model":"m","prompt":1,"at":-1}'
refused "clock advance by more than ten years" '{"op":"clock_advance","seconds":9000000000000}'
refused "stats since a time past 9999" '{"op":"stats","since":253402300800}'

# --- the largest valid amounts add up without harm ----------------------------------
tq limit set --user big --tokens 1000000000000000
for i in 1 2 3; do
	tq record --user big --model m --prompt 1000000000000
done
tqj check --user big --model m --tokens 1000000000000
is "$rc $(jqv .limits[0].used)" "0 3000000000000" "three events of 10^12 count 3*10^12, room for more"

# --- a database that already holds huge values (written before the bounds) ------------
requires_sqlite "huge values written into the SQLite file behind tokqd's back"
stop_tokqd
python3 - "$DB" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
M = 9223372036854775807
day = 1796083200            # 2026-12-01
for u, g in (("h1", "g"), ("h2", "g")):
    db.execute("INSERT INTO daily(day, user, guild, model, service, kind, requests, prompt,"
               " completion, total, cached, cache_write, reasoning, cost) VALUES"
               " (?, ?, ?, 'm', '', '', 1, ?, ?, ?, 0, 0, 0, ?)", (day, u, g, M, M, M, M))
    db.execute("INSERT INTO events(at, user, guild, model, requests, prompt, completion,"
               " total, cached, cache_write, reasoning, cost) VALUES"
               " (?, ?, ?, 'm', 1, ?, ?, ?, 0, 0, 0, ?)", (day + 36000, u, g, M, M, M, M))
    for span, start in ((60, day + 36000), (3600, day + 32400)):
        db.execute("INSERT INTO buckets(scope, subject, model, start, span, tokens, cost,"
                   " requests) VALUES (0, ?, '', ?, ?, ?, ?, 1)", (u, start, span, M, M))
db.execute("UPDATE meta SET val = (SELECT MAX(id) FROM events) WHERE name = 'totals_through'")
db.commit()
PY
start_tokqd
tq clock set 2026-12-01T10:30:00Z
# (jq reads numbers as doubles: the exact figures are matched in the JSON text)
tqj stats
is "$rc" 0 "stats over two INT64_MAX days: exit 0"
like "$out" '"totals":\{[^}]*"total":9223372036854775807[,}]' "stats totals saturate at INT64_MAX"
like "$out" '"top_users":\[\{"user":"h1"[^}]*"total":9223372036854775807,[^}]*\},\{"user":"h2"[^}]*"total":9223372036854775807,' \
	"top users: INT64_MAX each"
unlike "$out" ':-[0-9]' "stats: no negative figure"
tqj report --period day
is "$rc" 0 "report: exit 0"
like "$out" '"all_time_total":9223372036854775807' "report: all-time total saturated"
unlike "$out" ':-[0-9]' "report: no negative figure"
tqj usage --user h1
is "$rc" 0 "usage: exit 0"
like "$out" '"all":\{[^}]*"total":9223372036854775807' "usage: all-time total saturated"
tqj log
is "$rc $(jqv '.events | length')" "0 9" "log: exit 0, every event"
tq export
is "$rc" 0 "export: exit 0"
tq limit set --user h1 --tokens 1000000000000000
tqj check --user h1 --tokens 1
is "$rc $(jqv .allowed)" "1 false" "a check over INT64_MAX buckets: denied"
like "$out" '"used":9223372036854775807,' "used is INT64_MAX (the two buckets did not wrap)"
tq record --user h1 --model m --prompt 5
is "$rc" 0 "a record on top of INT64_MAX: exit 0"
tqj check --user h1 --tokens 1
is "$rc" 1 "still denied"
like "$out" '"used":9223372036854775807,' "still INT64_MAX"
tqj stats
is "$rc" 0 "stats after one more record: exit 0"
like "$out" '"totals":\{[^}]*"total":9223372036854775807[,}]' "and saturated"

stop_tokqd
done_testing
