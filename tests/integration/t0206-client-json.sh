#!/usr/bin/env bash
# tokq reads and writes JSON with a real parser and writer (jansson): an
# import line with a malformed number is refused, a number beyond 64 bits
# names its column, meta travels byte for byte; --json prints money as the
# contract's decimals, never as 1e-09 or 2.0.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

start_tokqd
tq clock set 2026-12-20T12:00:00Z

printf '{"user":"a","at":"2026-12-01T00:00:00Z","model":"m","prompt":1-e+}\n' >"$T/n.jsonl"
tq import "$T/n.jsonl"
is "$rc" 65 "a malformed number in a JSON line: exit 65"
like "$err" "line 1: not a JSON object .*\(nothing was imported\)" \
	"tokq's parser refuses it: the line named, nothing imported"

printf '{"user":"a","at":"2026-12-01T00:00:00Z","model":"m","prompt":99999999999999999999}\n' >"$T/big.jsonl"
tq import "$T/big.jsonl"
is "$rc" 65 "a number beyond 64 bits: exit 65"
like "$err" "line 1: prompt: bad value '99999999999999999999'" "it names the column and the value"

printf 'user,at,model,meta\na,2026-12-01T00:00:00Z,m,1-e+\n' >"$T/m.csv"
tq import "$T/m.csv"
is "$rc" 65 "CSV meta that is no JSON: exit 65"
like "$err" "line 2: meta is not JSON \(nothing was imported\)" "tokq judges it before sending"

printf '%s\n' '{"user":"a","at":"2026-12-01T00:00:00Z","model":"m","meta":{"b": 1.50, "a": "\u00e9"}}' >"$T/v.jsonl"
tq import "$T/v.jsonl"
is "$rc" 0 "a JSON line with meta imports"
tq export --user a
like "$out" '"meta":\{"b": 1\.50, "a": "\\u00e9"\}' "meta comes back as it was written"

tqj record --user a --model m --cost 0.000000001
like "$out" '"cost_usd":0\.000000001[,}]' "--json: a nano-dollar is 0.000000001"
tqj record --user a --model m --cost 2
like "$out" '"cost_usd":2[,}]' "--json: two dollars are 2"
tqj record --user a --model m --cost 0.0125
like "$out" '"cost_usd":0\.0125[,}]' "--json: 0.0125 stays 0.0125"

stop_tokqd
done_testing
