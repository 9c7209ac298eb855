#!/usr/bin/env bash
# tokq export pages through the raw events; tokq import reads them back
# (JSON lines or CSV) into a second tokqd with equal stats; a bad row
# names its line and imports nothing; the seeds' column names import.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq

SOCK_A=$SOCK
SOCK_B=$T/b.sock
tqb() { SOCK=$SOCK_B tq "$@"; }
start_b() {
	"$TOKQD" --socket "$SOCK_B" --db "${SOCK_B%.sock}.db" --test-clock 2>>"$T/tokqd.log" &
	EXTRA_PIDS+=($!)
	SOCK=$SOCK_B wait_for_status "$!" || bail "the second tokqd answers"
}

start_tokqd
tq clock set 2026-12-20T12:00:00Z
tq price set gpt-4o --input 2.5 --output 10

# 2,600 events over 13 days, loaded with import itself: 6 batches of <= 500.
python3 - >"$T/gen.jsonl" <<'PY'
import json
for i in range(2600):
    ev = {"user_id": "u%d" % (i % 7), "guild_id": "g%d" % (i % 3) if i % 5 else None,
          "model": ["gpt-4o", "gpt-4o-mini", "claude"][i % 3],
          "timestamp": "2026-12-%02dT%02d:%02d:00Z" % (1 + i % 13, i % 24, i % 60),
          "prompt_tokens": 100 + i, "completion_tokens": i % 50,
          "session_id": "s%d" % (i // 4), "call_index": i % 4}
    if i % 11 == 0:
        ev["cost"] = 0.000123
    if i % 13 == 0:
        ev["meta"] = {"n": i, "s": "a \"quoted\", comma\nline"}
    print(json.dumps(ev))
PY
tq import "$T/gen.jsonl"
is "$rc" 0 "import of 2,600 events exits 0"
like "$out" "imported 2,600 events" "import says how many"
tqj stats --days 30
is "$(jqv .totals.requests)" 2600 "all 2,600 events are there"
stats_a=$(jqv 'del(.since, .until)')

tq export
is "$rc" 0 "export exits 0"
printf '%s\n' "$out" >"$T/a.jsonl"
is "$(wc -l <"$T/a.jsonl" | tr -d ' ')" 2600 "export writes one line per event, over three pages"
is "$(jq -s '[.[].at] == ([.[].at] | sort)' "$T/a.jsonl")" true "export is in time order"
is "$(jq -s '[.[] | select(.meta != null)] | length' "$T/a.jsonl")" 200 "meta travels as JSON"
# A guild's events: no index of their own (schema 3), a filter on the time
# order.
tq export --guild g1
printf '%s\n' "$out" >"$T/g1.jsonl"
is "$(jq -s 'length' "$T/g1.jsonl")" 694 "export --guild: the guild's 694 events"
is "$(jq -s '[.[].guild] | unique' -c "$T/g1.jsonl")" '["g1"]' "export --guild: no other guild's"
is "$(jq -s '[.[].at] == ([.[].at] | sort)' "$T/g1.jsonl")" true "export --guild: in time order"
tq export --format csv
printf '%s\n' "$out" >"$T/a.csv"
like "$(head -n 1 "$T/a.csv")" "^id,at,user,guild,channel,model,service,kind,session,call,prompt,completion,total" \
	"csv: a header"

start_b
tqb clock set 2026-12-20T12:00:00Z
tqb import "$T/a.jsonl"
is "$rc" 0 "import into the second tokqd exits 0"
tqb --json stats --days 30
is "$(jqv 'del(.since, .until)')" "$stats_a" "the second tokqd's stats equal the first's"
tqb export --format csv
is "$(printf '%s\n' "$out" | cut -d, -f2-)" "$(cut -d, -f2- "$T/a.csv")" \
	"its export equals the first's, ids aside"

# CSV into a third database: the same again.
SOCK_B=$T/c.sock
start_b
tqb clock set 2026-12-20T12:00:00Z
tqb --json import --format csv - <"$T/a.csv"
is "$(jqv .imported)" 2600 "csv import from stdin"
tqb --json stats --days 30
is "$(jqv 'del(.since, .until)')" "$stats_a" "csv round trip: equal stats"

# Filters and a bad row.
tq export --user u3 --since 2026-12-05 --until 2026-12-06
is "$(printf '%s\n' "$out" | jq -s 'map(select(.user != "u3" or .at < "2026-12-05" or .at >= "2026-12-06")) | length')" 0 \
	"export --user --since --until filters"
head -n 700 "$T/a.jsonl" >"$T/bad.jsonl"
echo '{"user":"x","at":"2026-12-01T00:00:00Z","prompt":-5}' >>"$T/bad.jsonl"
tqb import "$T/bad.jsonl"
is "$rc" 65 "a bad row: exit 65"
like "$err" "line 701: prompt: bad value '-5'" "the error names the line"
tqb --json stats --days 30
is "$(jqv .totals.requests)" 2600 "and nothing of the file was imported"

# The seeds' table columns.
printf 'user_id,guild_id,channel_id,session_id,call_index,prompt_tokens,completion_tokens,total_tokens,model,timestamp\n' >"$T/seed.csv"
printf '42,900,7,abc,0,1000,200,1200,gpt-4o,2026-12-19 10:00:00\n42,900,7,abc,1,50,5,55,gpt-4o,1797678000\n' >>"$T/seed.csv"
tq --json import "$T/seed.csv"
is "$(jqv .imported)" 2 "a table with user_id, prompt_tokens, timestamp ... imports"
tqj log --user 42
is "$(jqv '[.events[] | "\(.at) \(.guild) \(.session) \(.call) \(.total)"] | join(", ")')" \
	"2026-12-19T11:00:00Z 900 abc 1 55, 2026-12-19T10:00:00Z 900 abc 0 1200" \
	"its columns land in the right fields"

stop_tokqd
done_testing
