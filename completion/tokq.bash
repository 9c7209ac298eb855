# bash completion for tokq(1)                               -*- shell-script -*-
#
# Installed as $(PREFIX)/share/bash-completion/completions/tokq; or, by hand:
#   source completion/tokq.bash
#
# The candidates come from the client itself, so they always match its
# command table: `tokq __complete WORD... CURRENT` gets the words after
# `tokq` typed so far, the last one being the word under the cursor (empty
# after a space), and prints one candidate per line:
#   - the next command word (check, record, limit, ...; set, rm, list after
#     `limit`) while the command is not complete yet,
#   - else the flags of that command (and the global ones), as --name,
#   - a lone line "@file" when CURRENT is a file name (after --usage-json,
#     --socket, and import's FILE),
#   - nothing after a flag that takes some other value (--user U, ...).
# `tokq batch` completes like any command (it comes from the same table);
# it takes only the global flags, its requests come on stdin.
# It exits 0; this script also filters the candidates by CURRENT itself.

_tokq() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local prog=${COMP_WORDS[0]}
	local -a words=("${COMP_WORDS[@]:1:COMP_CWORD}")
	local out line
	local -a cands=()

	COMPREPLY=()
	# ~/bin/tokq, ./build/tokq, or tokq from PATH: run the one being typed.
	prog=${prog/#\~/$HOME}
	out=$("$prog" __complete "${words[@]}" 2>/dev/null) || return 0
	while IFS= read -r line; do
		[ -n "$line" ] && cands+=("$line")
	done <<<"$out"
	if [ "${#cands[@]}" -eq 1 ] && [ "${cands[0]}" = "@file" ]; then
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return 0
	fi
	[ "${#cands[@]}" -gt 0 ] || return 0
	mapfile -t COMPREPLY < <(compgen -W "${cands[*]}" -- "$cur")
	return 0
}

complete -F _tokq tokq
