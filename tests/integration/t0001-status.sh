#!/usr/bin/env bash
# tokq status answers, and its JSON names the version, the protocol and the
# counts of a fresh daemon that was started by hand.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

start_tokqd

tq status
is "$rc" 0 "status exits 0"
isnt "$out" "" "status prints something on stdout"
is "$err" "" "status writes nothing on stderr"

tqj status
is "$rc" 0 "status --json exits 0"
is "$(jqv 'type')" object "status --json prints one JSON object"
like "$(jqv '.version')" '^[0-9]+\.[0-9]+' "version is a version number"
is "$(jqv '.protocol')" 1 "protocol is 1"
is "$(jqv '.events')" 0 "a fresh database holds 0 events"
is "$(jqv '.users')" 0 "and 0 users"
is "$(jqv '.holds')" 0 "and 0 holds"
is "$(jqv '.socket_activated')" false "started by hand: socket_activated is false"
is "$(jqv '.db_bytes | type')" number "db_bytes is a number"
version=$(jqv .version)

tq --version
is "$rc" 0 "tokq --version exits 0"
like "$out" "$version" "tokq --version names the same version as the daemon"

stop_tokqd
done_testing
