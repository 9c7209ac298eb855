#!/usr/bin/env bash
# The bash completion (completion/tokq.bash) completes commands and flags
# from the client's own command table, through `tokq __complete WORD...`:
# first its plumbing against a stand-in tokq that shows what it was asked,
# then the real client (skipped while it has no __complete command).
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
. "$(dirname "$0")/lib.sh"

script=$TEST_ROOT/completion/tokq.bash
[ -r "$script" ] || bail "completion/tokq.bash exists"

# complete_line WORD... : COMPREPLY for the line "WORD..." (cursor at the
# end of the last word, which may be ""), one candidate per line, sorted.
complete_line() {
	bash --norc --noprofile -c '
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_tokq
		printf "%s\n" "${COMPREPLY[@]}"' _ "$script" "$@" | sed '/^$/d' | sort
}

ok "the script registers _tokq for tokq" \
	bash --norc --noprofile -c 'source "$1" && complete -p tokq | grep -q -- "-F _tokq"' _ "$script"

# --- plumbing, against a stand-in that logs its arguments --------------------
stub=$T/stub-tokq
cat >"$stub" <<STUB
#!/usr/bin/env bash
printf '%s|' "\$@" >"$T/stub.args"
case "\$*" in
"__complete li") printf 'limit\n' ;;
"__complete check --u") printf -- '--user\n--guild\n--json\n' ;;
"__complete record --usage-json "*) echo @file ;;
"__complete limit "*) printf 'set\nrm\nlist\n' ;;
*) exit 0 ;;
esac
STUB
chmod +x "$stub"

is "$(complete_line "$stub" li)" limit "stand-in: the candidate comes back"
is "$(<"$T/stub.args")" "__complete|li|" "stand-in: asked with __complete and the words after tokq"
is "$(complete_line "$stub" limit "")" $'list\nrm\nset' "stand-in: an empty current word offers all"
is "$(<"$T/stub.args")" "__complete|limit||" "stand-in: the empty current word is passed as \"\""
is "$(complete_line "$stub" limit l)" list "stand-in: the script filters by the current word too"
is "$(complete_line "$stub" check --u)" --user "stand-in: flags filtered to --u"
mkdir "$T/files" && touch "$T/files/usage-1.json" "$T/files/usage-2.json"
is "$(cd "$T/files" && complete_line "$stub" record --usage-json usage-)" \
	$'usage-1.json\nusage-2.json' "stand-in: @file completes file names"
is "$(complete_line "$T/no-such-tokq" li)" "" "a missing tokq completes nothing, quietly"

# --- the real client -----------------------------------------------------------
[ -x "$TOKQ" ] || bail "tokq is built" "  no executable $TOKQ: run make first"
"$TOKQ" __complete li >"$T/real.out" 2>"$T/real.err"
real_rc=$?
if [ "$real_rc" = 64 ] && grep -q "unknown command" "$T/real.err"; then
	skip "tokq li -> limit" "tokq has no __complete command yet"
	skip "tokq limit se -> set" "tokq has no __complete command yet"
	skip "tokq check --u -> --user" "tokq has no __complete command yet"
	skip "tokq -> every command" "tokq has no __complete command yet"
	done_testing
fi
is "$real_rc" 0 "tokq __complete exits 0"

is "$(complete_line "$TOKQ" li)" limit "tokq li<TAB> -> limit"
is "$(complete_line "$TOKQ" limit se)" set "tokq limit se<TAB> -> set"
like "$(complete_line "$TOKQ" check --u)" '^--user$' "tokq check --u<TAB> -> --user"
all=$(complete_line "$TOKQ" "")
for c in check record release usage status limit plan bypass reset price; do
	like "$all" $'(^|\n)'"$c"$'(\n|$)' "tokq <TAB> offers $c"
done
unlike "$all" '__complete' "but not the hidden __complete"
like "$(complete_line "$TOKQ" --json li)" '^limit$' "a global flag before the command is skipped"
is "$(complete_line "$TOKQ" limit set --u)" --user "tokq limit set --u<TAB> -> --user"
like "$(complete_line "$TOKQ" record --user 42 --mo)" '^--model$' \
	"flags after a flag's value: record --user 42 --mo<TAB> -> --model"
is "$(complete_line "$TOKQ" check --user "")" "" "no candidates for a flag's value (--user U)"

done_testing
