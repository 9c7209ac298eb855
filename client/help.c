/*
 * help.c: what tokq says about itself, from the command table.
 *
 * `tokq help`, `tokq CMD --help` (a synopsis built from the flag table,
 * then one line a flag) and `tokq __complete` for the bash completion:
 * all read cmds[], so a new flag or command shows up in each by itself.
 */
#include <stdio.h>
#include <string.h>

#include "client.h"

static const char *const sections[] = {
	[S_BOT] = "bot commands",
	[S_ADMIN] = "admin commands",
	[S_TEST] = "test commands",
};

/* One flag's usage, appended to buf: "--user U", "--reserve", "HOLD". */
static void
flag_usage(char *buf, size_t len, const struct flag *fl)
{
	size_t	 o = strlen(buf);

	if (fl->opts & F_POS)
		snprintf(buf + o, len - o, "%s", fl->name);
	else if (fl->meta != NULL)
		snprintf(buf + o, len - o, "--%s %s", fl->name, fl->meta);
	else
		snprintf(buf + o, len - o, "--%s", fl->name);
}

/*
 * "usage: tokq CMD ...", built from c's flag table: required flags bare,
 * optional ones in [ ], a group as (a | b) when one is required or [a | b]
 * when at most one may be given; wrapped before column 80.
 */
static void
cmd_synopsis(FILE *f, const struct cmd *c)
{
	const struct flag	*fl;
	char			 name[64], item[512];
	size_t			 col, ind;
	unsigned		 g;
	bool			 first, last;

	col = ind = fprintf(f, "usage: tokq %s", cmd_name(c, name, sizeof(name)));
	item[0] = '\0';
	for (fl = c->flags; fl->name != NULL; fl++) {
		g = F_GROUPOF(fl->opts);
		first = g == 0 || fl == c->flags || F_GROUPOF(fl[-1].opts) != g;
		last = g == 0 || fl[1].name == NULL || F_GROUPOF(fl[1].opts) != g;
		if (first && !(fl->opts & F_REQ))
			strcat(item, fl->opts & F_ONE ? "(" : "[");
		flag_usage(item, sizeof(item), fl);
		if (!last) {
			strcat(item, " | ");
			continue;
		}
		if (!(fl->opts & F_REQ))
			strcat(item, fl->opts & F_ONE ? ")" : "]");
		if (col + 1 + strlen(item) > 79 && col > ind) {
			fprintf(f, "\n%*s", (int)ind, "");
			col = ind;
		}
		col += fprintf(f, " %s", item);
		item[0] = '\0';
	}
	fputc('\n', f);
}

/* `tokq CMD --help`: synopsis, what it does, one line per flag. */
void
cmd_help(FILE *f, const struct cmd *c)
{
	const struct flag	*fl;
	char			 arg[64];

	cmd_synopsis(f, c);
	fprintf(f, "%s\n", c->help);
	if (c->flags[0].name != NULL)
		fputc('\n', f);
	for (fl = c->flags; fl->name != NULL; fl++) {
		if (fl->opts & F_POS)
			snprintf(arg, sizeof(arg), "%s", fl->name);
		else if (fl->meta != NULL)
			snprintf(arg, sizeof(arg), "--%s %s", fl->name, fl->meta);
		else
			snprintf(arg, sizeof(arg), "--%s", fl->name);
		fprintf(f, "  %-20s %s\n", arg, fl->help);
	}
	if (c->about != NULL)
		fprintf(f, "\n%s", c->about);
	fputs("\nglobal: --socket PATH, --json (one JSON object on stdout), --help\n", f);
}

/* `tokq help`: every command, by section; `tokq limit --help`: one group. */
void
general_help(FILE *f, const char *group)
{
	char	 name[64];
	size_t	 i;
	int	 s, last = -1;

	if (group == NULL)
		fputs("usage: tokq [--socket PATH] [--json] COMMAND [ARGS...]\n"
		    "       tokq help [COMMAND] | tokq COMMAND --help | tokq --version\n", f);
	else
		fprintf(f, "usage: tokq %s SUBCOMMAND [ARGS...]\n\n", group);
	for (s = S_BOT; s <= S_TEST; s++) {
		for (i = 0; i < ncmds; i++) {
			if (cmds[i].section != s)
				continue;
			if (group != NULL && strcmp(cmds[i].words[0], group) != 0)
				continue;
			if (last != s && group == NULL)
				fprintf(f, "\n%s:\n", sections[s]);
			last = s;
			fprintf(f, "  %-16s %s\n", cmd_name(&cmds[i], name, sizeof(name)),
			    cmds[i].help);
		}
	}
	if (group == NULL)
		fputs("\nexit codes:\n"
		    "  0   ok                  1   denied (check)\n"
		    "  64  usage error: a missing, unknown or malformed flag, or a value outside\n"
		    "      its range (tokq(1) lists them), judged by tokq before anything is sent\n"
		    "  65  invalid data: tokqd refused it (unknown hold, key reused, no such rule)\n"
		    "  69  tokqd unreachable   70  internal error   77  permission denied\n"
		    "  75  temporary: refused for now (nothing was kept), or the connection was\n"
		    "      lost after the request was sent (the outcome is unknown); either way\n"
		    "      a retry with the same --key is safe and never counts twice\n", f);
}

/*
 * `tokq __complete WORD... CURRENT`, for the bash completion: print the
 * candidates for CURRENT, one per line, from the command table itself.
 * While the command is incomplete: its next word.  Then: the command's
 * flags and the global ones; "@file" where a file name goes; nothing after
 * a flag that takes another kind of value.  The script filters by prefix.
 */
int
help_complete(int argc, char **argv)
{
	const char		*w[2] = { NULL, NULL }, *prev = NULL;
	const struct cmd	*c = NULL;
	const struct flag	*fl;
	int			 i, nw = 0;
	size_t			 k, j;

	for (i = 0; i < argc - 1; i++) {
		const char *a = argv[i];

		prev = a;
		if (strcmp(a, "--socket") == 0) {
			if (++i < argc - 1)
				prev = NULL;
			continue;
		}
		if (a[0] == '-' || nw == 2)
			continue;
		if (c != NULL) {
			/* a flag's value or a positional: not a command word */
			continue;
		}
		w[nw++] = a;
		for (k = 0; k < ncmds; k++)
			if (strcmp(cmds[k].words[0], w[0]) == 0 &&
			    (cmds[k].words[1] == NULL ||
			    (nw == 2 && strcmp(cmds[k].words[1], w[1]) == 0)))
				c = &cmds[k];
	}
	if (c == NULL) {
		for (k = 0; k < ncmds; k++) {
			const char *cand = nw == 0 ? cmds[k].words[0] : cmds[k].words[1];

			if (nw >= 1 && strcmp(cmds[k].words[0], w[0]) != 0)
				continue;
			if (cand == NULL)
				continue;
			for (j = 0; j < k; j++)
				if (strcmp(nw == 0 ? cmds[j].words[0] : (cmds[j].words[1] ?
				    cmds[j].words[1] : ""), cand) == 0 &&
				    (nw == 0 || strcmp(cmds[j].words[0], w[0]) == 0))
					break;
			if (j == k)
				puts(cand);
		}
		return TOKQ_EXIT_OK;
	}
	if (prev && strcmp(prev, "--socket") == 0) {
		puts("@file");
		return TOKQ_EXIT_OK;
	}
	for (fl = c->flags; prev && prev[0] == '-' && fl->name; fl++)
		if (!(fl->opts & F_POS) && strcmp(prev + 2, fl->name) == 0 && fl->meta) {
			if (fl->kind == K_USAGE)
				puts("@file");
			return TOKQ_EXIT_OK;
		}
	if (argv[argc - 1][0] != '-')
		for (fl = c->flags; fl->name; fl++)
			if ((fl->opts & F_POS) && (fl->kind == K_USAGE ||
			    (fl->meta && strcmp(fl->meta, "FILE") == 0))) {
				puts("@file");
				return TOKQ_EXIT_OK;
			}
	for (fl = c->flags; fl->name; fl++)
		if (!(fl->opts & F_POS))
			printf("--%s\n", fl->name);
	puts("--json\n--socket\n--help");
	return TOKQ_EXIT_OK;
}
