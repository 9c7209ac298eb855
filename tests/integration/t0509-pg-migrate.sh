#!/usr/bin/env bash
# Moving from SQLite to PostgreSQL: `tokq export` from a tokqd on an SQLite
# file, `tokq import` into a tokqd on PostgreSQL, and the new store tells the
# same story: stats, a user's usage and limits, and the export itself (ids
# aside); a second daemon on the PostgreSQL database sees it all too.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
[ -n "${TOKQ_TEST_PG:-}" ] || skip_all "PostgreSQL store only (TOKQ_TEST_PG is not set)"
# shellcheck source=../pg/cross.sh
. "$TEST_ROOT/tests/pg/cross.sh"
need python3

# settings SOCK: the same prices and rules on a store
settings() {
	SOCK=$1 tq price set gpt-4o --input 2.5 --output 10
	SOCK=$1 tq limit set --default --tokens 100000 --per 30d
	SOCK=$1 tq limit set --guild g1 --tokens 1000000 --per month
}
# story SOCK PART: what an admin or a bot would look at, as one JSON line
PARTS="stats usage check report"
story() {
	local s=$1
	case $2 in
	stats) "$TOKQ" --socket "$s" --json stats --days 60 | jq -c 'del(.since, .until)' ;;
	usage) "$TOKQ" --socket "$s" --json usage --user u3 --guild g1 | jq -c '{periods, by_model, limits}' ;;
	check) "$TOKQ" --socket "$s" --json check --user u3 --guild g1 --model gpt-4o --tokens 500 |
		jq -c '{allowed, limits}' ;;
	report) "$TOKQ" --socket "$s" --json report --period month | jq -c 'del(.generated_at)' ;;
	esac
}

# --- the old store: SQLite, 40 days of history ------------------------------------------
# Raw events are kept 60 days here: maintenance, which runs between the
# requests, must not fold the 40 days of imported events into daily totals
# on one store and not yet on the other before their exports are compared.
printf 'retention_days = 60\n' >"$T/tokqd.conf"
PG_DB=$DB
DB=$T/old.db
start_tokqd --config "$T/tokqd.conf"
tq clock set 2026-12-20T12:00:00Z
settings "$SOCK"
python3 - >"$T/gen.jsonl" <<'PY'
import json
for i in range(1500):
    day = 11 + i % 40                        # 2026-11-11 .. 2026-12-20
    m, d = (11, day) if day <= 30 else (12, day - 30)
    ev = {"user_id": "u%d" % (i % 7), "guild_id": "g%d" % (i % 3) if i % 5 else None,
          "model": ["gpt-4o", "gpt-4o-mini", "claude"][i % 3],
          "timestamp": "2026-%02d-%02dT%02d:%02d:00Z" % (m, d, i % 12, i % 60),
          "prompt_tokens": 100 + i, "completion_tokens": i % 50}
    if i % 11 == 0:
        ev["cost"] = 0.000123
    print(json.dumps(ev))
PY
tq import "$T/gen.jsonl"
is "$rc" 0 "SQLite: 1,500 events of history imported"
tq record --user u3 --guild g1 --model gpt-4o --prompt 1000 --completion 100 --key live-1
for p in $PARTS; do story "$SOCK" "$p" >"$T/old.$p"; done
tq export --format csv
printf '%s\n' "$out" >"$T/old.csv"
tq export
printf '%s\n' "$out" >"$T/old.jsonl"
is "$(wc -l <"$T/old.jsonl" | tr -d ' ')" 1501 "SQLite: export writes all 1,501 events"
stop_tokqd

# --- the new store: PostgreSQL -----------------------------------------------------------
DB=$PG_DB
start_tokqd --config "$T/tokqd.conf"
tq clock set 2026-12-20T12:00:00Z
settings "$SOCK"
tqj import "$T/old.jsonl"
is "$rc $(jqv .imported)" "0 1501" "PostgreSQL: import of the export: 1,501 events"
for p in $PARTS; do
	is "$(story "$SOCK" "$p")" "$(cat "$T/old.$p")" "PostgreSQL tells the same story: $p"
done
tq export --format csv
printf '%s\n' "$out" >"$T/new.csv"
is "$(cut -d, -f2- "$T/new.csv")" "$(cut -d, -f2- "$T/old.csv")" \
	"PostgreSQL's export equals SQLite's, ids aside" ||
	diag "$(diff "$T/old.csv" "$T/new.csv" | head -8)"
start_tokqd2 --config "$T/tokqd.conf"
tq2 clock set 2026-12-20T12:00:00Z
for p in $PARTS; do
	is "$(story "$SOCK2" "$p")" "$(cat "$T/old.$p")" "a second daemon on the PostgreSQL database: the same $p"
done

stop_tokqd2
stop_tokqd
done_testing
