#!/usr/bin/env bash
# `tokq export | tokq import` gives back every event: with every kind of
# meta (a JSON string, number, object, array, or none) and with the
# largest counts an event may carry (10^12).  The import op takes back
# exactly what the export op gave, and keeps a meta that is no JSON
# document (free text from another tool's table) as the JSON string
# holding it.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq python3

raw() { out=$(python3 "$TEST_ROOT/tests/tools/raw_request.py" "$SOCK" "$1"); rc=$?; }
# the events from the N-th on by id, without their ids, one JSON line each
events_from() { "$TOKQ" --socket "$SOCK" export --format jsonl | jq -sc "sort_by(.id) | .[$1 - 1:][] | del(.id)"; }

start_tokqd
tq clock set 2026-12-01T10:00:00Z
T12=1000000000000
rec() { tq record --user u --guild g --model m "$@"; [ "$rc" = 0 ] || diag "record $* exited $rc: $err"; }
rec --prompt 10 --completion 5 --meta '"a string"'
rec --prompt 10 --completion 5 --meta '42'
rec --prompt 10 --completion 5 --meta '{"a":[1,2,{"b":"c"}],"d":"e f"}'
rec --prompt 10 --completion 5 --meta '[1,"x",null,true]'
rec --prompt 10 --completion 5 --meta '"{not json inside}"'
rec --prompt 10 --completion 5
rec --prompt $T12 --completion 0 --cached $T12 --cost 1000000
rec --prompt 0 --completion $T12 --reasoning $T12 --session s --call 7 --service svc --kind k
tqj status
is "$(jqv .events)" 8 "eight events recorded"
orig=$(events_from 1)
is "$(printf '%s\n' "$orig" | jq -c '.meta' | tr '\n' '|')" \
	'"a string"|42|{"a":[1,2,{"b":"c"}],"d":"e f"}|[1,"x",null,true]|"{not json inside}"|null|null|null|' \
	"export shows each meta as its JSON document"

# --- CSV: every event, every meta ---------------------------------------------------
"$TOKQ" --socket "$SOCK" export --format csv >"$T/all.csv"
tq import --format csv "$T/all.csv"
is "$rc" 0 "import of the CSV export: exit 0"
is "$(events_from 9)" "$orig" "the CSV round trip gives back the eight events"

# --- JSON lines: the events whose meta is no JSON string ------------------------------
"$TOKQ" --socket "$SOCK" export --format jsonl | jq -c 'select(.id <= 8)' |
	grep -v '"meta":"' >"$T/some.jsonl"
is "$(grep -c . "$T/some.jsonl")" 6 "six events whose meta is a number, object, array or none"
tq import "$T/some.jsonl"
is "$rc" 0 "import of their JSON lines: exit 0"
is "$(events_from 17)" "$(printf '%s\n' "$orig" | grep -v '"meta":"')" "the JSON lines round trip gives them back"
# and a string meta, which is JSON too: it goes on as written
"$TOKQ" --socket "$SOCK" export --format jsonl | jq -c 'select(.id == 1)' >"$T/str.jsonl"
is "$(jq -r '.meta | type' "$T/str.jsonl")" string "the first event's meta is a JSON string"
tq import "$T/str.jsonl"
is "$rc" 0 "import of a JSON line whose meta is a JSON string: exit 0"
is "$(events_from 23)" "$(printf '%s\n' "$orig" | head -n 1)" "and it comes back as it was"

# --- the protocol: the import op takes back what the export op gave -------------------
# ids 1-8 as the export op gives them, in id order, without ids
proto_events() { jqv "[.events[] | select(.id >= $1 and .id < $1 + 8)] | sort_by(.id) | map(del(.id) | tostring) | join(\"\n\")"; }
raw '{"op":"export","limit":1000}'
orig8=$(proto_events 1)
evs=$(jqv '[.events[] | select(.id <= 8)] | sort_by(.id) | map(del(.id, .requests)
	| .cost = .cost_usd | del(.cost_usd) | .at = (.at | fromdateiso8601)
	| with_entries(select(.value != null)))')
raw "{\"op\":\"import\",\"events\":$evs}"
is "$(jqv .code) $(jqv .imported)" "0 8" "the import op takes the eight events the export op gave"
first=$(jqv .first_event)
raw '{"op":"export","limit":1000}'
is "$(proto_events "$first")" "$orig8" \
	"and the export op gives back the same events: meta documents, 10^12 counts, cost"
like "$orig8" '"prompt":1000000000000' "(with counts of 10^12 among them)"

# free text as meta (another tool's table): kept as a JSON string
raw '{"op":"import","events":[{"at":1796119200,"user":"t","prompt":1,"meta":"plain words"}]}'
is "$(jqv .code)" 0 "an import whose meta is plain text: code 0"
tqj log --user t --last 1
is "$(jqv '.events[0].meta')" '"plain words"' "kept as the JSON string \"plain words\""

stop_tokqd
done_testing
