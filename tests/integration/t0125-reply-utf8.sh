#!/usr/bin/env bash
# Every string tokqd sends is valid UTF-8, even when the request's was not:
# error texts that echo the sender's bytes (an unknown operation, an
# argument's name, a hold, a selector, a metric, a window, an import key)
# show the bytes that are not UTF-8 as \xHH, so a strict msgpack decoder
# (Python's msgpack with raw=False) reads every reply.  Valid UTF-8 is echoed
# as it was, and a long text cut to fit is cut between characters.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need jq python3

PYTHON=$(command -v /usr/bin/python3 || command -v python3)
start_tokqd

res=$("$PYTHON" "$TEST_ROOT/tests/tools/hostile_clients.py" utf8 "$SOCK")
jq -e . >/dev/null 2>&1 <<<"$res" || bail "the utf8 client reported" "  $res"

# case NAME ERE: the reply to NAME decoded strictly, with an error matching ERE.
case_is() {
	local r
	r=$(jq -c --arg n "$1" '.[] | select(.name == $n)' <<<"$res")
	is "$(jq -r .strict <<<"$r")" true "$1: every string of the reply is valid UTF-8"
	like "$(jq -r .error <<<"$r")" "$2" "$1: the error shows the bytes as tokqd got them"
	isnt "$(jq -r .code <<<"$r")" 0 "$1: refused"
}
case_is op "^unknown operation '\\\\xff\\\\xfe\\\\xfd'\$"
case_is argument-name "^status takes no argument '\\\\xc3\\(zz'\$"
case_is hold "^unknown hold 'h\\\\xff\\\\xfe'\$"
case_is selector "^unknown selector 'us\\\\xe9r'\$"
case_is metric "^unknown metric 'tok\\\\xedens'\$"
case_is window "^invalid window '1\\\\xffh'"
case_is surrogate "^unknown operation '\\\\xed\\\\xa0\\\\x80op'\$"
case_is overlong "^unknown operation '\\\\xc0\\\\xafop'\$"
case_is import-key "unknown key '\\\\xf8key'\$"
case_is valid "^unknown operation 'déjà-vu'\$"
case_is long-valid "^unknown hold 'hhé+\$"
is "$(jq '[.[] | select(.strict | not)] | length' <<<"$res")" 0 \
	"all $(jq length <<<"$res") replies decode strictly"

tq status
is "$rc" 0 "tokqd still answers"
stop_tokqd
done_testing
