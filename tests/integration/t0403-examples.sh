#!/usr/bin/env bash
# The example bots (examples/python_bot.py with AsyncTokq, examples/node_bot.js
# with the Node library, both over one `tokq batch` co-process) run their
# script against a real tokqd: alice is served throughout, bob is warned at
# 80 % and then denied with the time his room comes back, both see their
# usage; a record whose answer was lost (exit 75) is retried with the same
# key and counts once; without tokqd they fail closed and say why.  Both
# bots print the very same conversation.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need jq

PY=$TEST_ROOT/examples/python_bot.py
NODE_BOT=$TEST_ROOT/examples/node_bot.js
node_bin=$(command -v node || command -v nodejs || { [ -x /usr/bin/node ] && echo /usr/bin/node; })
python_bin=$(command -v python3)

# fresh_tokqd: a new daemon on an empty database, at a fixed time, with the
# limits of the scenario: 5000 tokens a day for everyone, 330 for bob.
fresh_tokqd() {
	[ -n "$TOKQD_PID" ] && stop_tokqd
	empty_db
	start_tokqd
	tq clock set 2026-12-01T10:00:00Z
	tq limit set --default --tokens 5000 --per day
	tq limit set --user bob --tokens 330 --per day
	[ "$rc" = 0 ] || bail "the scenario's limits are set" "  $err"
}

# run_bot NAME CMD...: run an example with TOKQ=$TOKQ on $SOCK; $bot_out, $bot_rc.
run_bot() {
	local name=$1
	shift
	TOKQ=${BOT_TOKQ:-$TOKQ} "$@" --socket "$SOCK" >"$T/$name.out" 2>"$T/$name.err"
	bot_rc=$?
	bot_out=$(<"$T/$name.out")
	[ "$bot_rc" = 0 ] || diag "$name exited $bot_rc" "$(<"$T/$name.err")"
}

# A tokq that notes each time it is run: the bots start one co-process.
cat >"$T/counting-tokq" <<COUNTING
#!/bin/sh
echo "\$*" >>"$T/spawns"
exec "$TOKQ" "\$@"
COUNTING
chmod +x "$T/counting-tokq"

check_conversation() {	# check_conversation NAME
	local n=$1
	is "$bot_rc" 0 "$n: exits 0"
	is "$(cat "$T/spawns")" "batch" "$n: one tokq batch co-process served every call"
	like "$bot_out" $'<alice> What is a token\\?\n@alice: \\(an answer of 110 tokens\\)' \
		"$n: alice gets her answer"
	like "$bot_out" $'<bob> Explain rolling windows[^\n]*\n@bob: \\(an answer[^\n]*\n@bob: heads-up: you have now used 80 % of your quota\\.' \
		"$n: bob is warned once, when a record crosses 80 %"
	is "$(grep -c 'heads-up' <<<"$bot_out")" 1 "$n: and only once"
	like "$bot_out" $'<bob> And now a limerick[^\n]*\n@bob: sorry, you have reached your limit \\(330 tokens per day\\); try again after 2026-12-02T00:00:00Z\\.' \
		"$n: bob is then denied, told the rule and when room frees up"
	is "$(grep -c '^@bob: sorry, you have reached' <<<"$bot_out")" 2 "$n: both of bob's last messages are denied"
	like "$bot_out" $'<alice> Thanks!\n@alice: \\(an answer' "$n: alice is still served after bob's denial"
	like "$bot_out" $'--- tokq usage --user bob\n' "$n: shows bob his usage"
	tqj usage --user bob
	is "$(jqv '.periods.all | [.requests, .total] | join(" ")')" "2 268" \
		"$n: tokqd counted bob's two calls, 268 tokens"
	tqj usage --user alice
	is "$(jqv '.periods.all | [.requests, .total] | join(" ")')" "3 400" \
		"$n: and alice's three, 400 tokens"
	tq status --json
	is "$(jqv .holds)" 0 "$n: every hold was settled"
}

[ -r "$PY" ] || bail "examples/python_bot.py exists"
[ -r "$NODE_BOT" ] || bail "examples/node_bot.js exists"

# --- Python -------------------------------------------------------------------
if [ -n "$python_bin" ]; then
	fresh_tokqd
	rm -f "$T/spawns"
	BOT_TOKQ=$T/counting-tokq run_bot python "$python_bin" "$PY"
	check_conversation python
	py_out=$bot_out
else
	skip "python example" "python3 is not installed"
	py_out=
fi

# --- Node -----------------------------------------------------------------------
if [ -n "$node_bin" ]; then
	fresh_tokqd
	rm -f "$T/spawns"
	BOT_TOKQ=$T/counting-tokq run_bot node "$node_bin" "$NODE_BOT"
	check_conversation node
	if [ -n "$py_out" ]; then
		is "$bot_out" "$py_out" "node and python print the same conversation"
	fi
else
	skip "node example" "node is not installed"
fi

# --- exit 75: the answer of a record is lost; the retry uses the same key ------
# A stand-in tokq runs the real `tokq batch` behind it; the first record line
# is kept for real, but its answer is replaced by the one a lost connection
# gives (exit 75, outcome unknown).
cat >"$T/flaky-tokq" <<FLAKY
#!/usr/bin/env bash
[ "\$*" = batch ] || exec "$TOKQ" "\$@"
coproc REAL { exec "$TOKQ" batch; }
while IFS= read -r line; do
	printf '%s\\n' "\$line" >&"\${REAL[1]}"
	IFS= read -r answer <&"\${REAL[0]}"
	if [[ \$line == *'"record"'* && ! -e "$T/flaky.done" ]]; then
		: >"$T/flaky.done"
		answer='{"exit":75,"error":"tokqd did not answer within 10 s","temporary":"unknown"}'
	fi
	printf '%s\\n' "\$answer"
done
FLAKY
chmod +x "$T/flaky-tokq"
for lang in python node; do
	case $lang in
	python) bin=$python_bin script=$PY ;;
	node) bin=$node_bin script=$NODE_BOT ;;
	esac
	if [ -z "$bin" ]; then
		skip "$lang: retry after exit 75" "$lang is not installed"
		continue
	fi
	rm -f "$T/flaky.done"
	fresh_tokqd
	BOT_TOKQ=$T/flaky-tokq run_bot "$lang-flaky" "$bin" "$script"
	is "$bot_rc" 0 "$lang: exit 75 on a record is retried, and the run exits 0"
	like "$bot_out" 'tokq is busy \(tokqd did not answer within 10 s\); retrying in 0\.1 s with the same key' \
		"$lang: it says it retries with the same key"
	tqj usage --user alice
	is "$(jqv '.periods.all | [.requests, .total] | join(" ")')" "3 400" \
		"$lang: the retried record counted once (the same key)"
done

# --- the README's library snippets ------------------------------------------------
# snippet TITLE FENCE: the first FENCE block after the line starting with TITLE.
snippet() {
	awk -v title="$1" -v fence="\`\`\`$2" '
		index($0, title) == 1 { want = 1; next }
		want && $0 == fence { inb = 1; next }
		inb && $0 == "```" { exit }
		inb { print }' "$TEST_ROOT/README.md"
}
fresh_tokqd
mkdir -p "$T/snip/node_modules"
ln -s "$TEST_ROOT/bindings/node" "$T/snip/node_modules/tokq"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$TOKQ" >"$T/snip/tokq"
chmod +x "$T/snip/tokq"
for lang in python node; do
	case $lang in
	python) bin=$python_bin title="Python, with AsyncTokq" fence=python f=readme.py n=1 ;;
	node) bin=$node_bin title="Node, with the library" fence=js f=readme.js n=2 ;;
	esac
	if [ -z "$bin" ]; then
		skip "$lang: the README's library snippet" "$lang is not installed"
		continue
	fi
	snippet "$title" "$fence" >"$T/snip/$f"
	like "$(<"$T/snip/$f")" 'key' "README has a $lang library snippet that records with a key"
	(cd "$T/snip" && PATH=$T/snip:$PATH TOKQ_SOCKET=$SOCK \
		PYTHONPATH=$TEST_ROOT/bindings/python "$bin" "$f") >"$T/snip/out" 2>&1
	is "$?" 0 "$lang: the README's library snippet runs" || diag "$(<"$T/snip/out")"
	tqj usage --user 1234
	is "$(jqv '.periods.all | "\(.requests) \(.total)"')" "$n $((n * 1500))" \
		"$lang: it recorded its call (1500 tokens)"
	tq status --json
	is "$(jqv .holds)" 0 "$lang: its hold was settled by the record"
done

# --- exit 69: no tokqd ------------------------------------------------------------
stop_tokqd
for lang in python node; do
	case $lang in
	python) bin=$python_bin script=$PY ;;
	node) bin=$node_bin script=$NODE_BOT ;;
	esac
	[ -n "$bin" ] || continue
	run_bot "$lang-down" "$bin" "$script"
	isnt "$bot_rc" 0 "$lang: without tokqd it exits non-zero"
	like "$bot_out" "\\[bot\\] tokqd is not running or unreachable: (tokq: )?cannot connect to tokqd at $SOCK" \
		"$lang: and says tokqd is not running, naming the socket"
	like "$bot_out" $'<alice> What is a token\\?\n[^\n]*\n@alice: sorry, I cannot answer right now\\.' \
		"$lang: and answers no one (it fails closed)"
done

done_testing
