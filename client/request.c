/*
 * request.c: one request to tokqd and its checked reply.
 *
 * A parsed request is packed as the map {"v":1,"op":…, args…}, sent on
 * one connection (conn.c), and its reply unpacked and checked: a frame
 * that is not a reply is 70, a reply with code != 0 is told in the
 * command's own words with the contract's exit code.  cmd_exec() is one
 * command in-process: the request, the reply and the JSON object --json
 * prints, and the exit code, returned; nothing here exits or prints.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

/* The kinds that are for tokq itself and never travel. */
static bool
unsent(enum argkind k)
{
	return k == K_LOCAL || k == K_RFORMAT || k == K_XFORMAT;
}

/*
 * Pack r as the request map {"v":1,"op":…, args…}.  The map's size comes
 * first in msgpack, so the flags are counted in a first pass.
 */
void
request_pack(const struct req *r, msgpack_packer *pk)
{
	const struct flag	*f = r->cmd->flags;
	const struct val	*v;
	int			 i, n = 2;

#define PSTR(s, len)	msgpack_pack_str_with_body(pk, (s), (len))
#define PKEY(s)		PSTR((s), strlen(s))
	for (i = 0; f[i].name != NULL; i++)
		if (r->v[i].set && !unsent(f[i].kind))
			n += (f[i].kind == K_SEL || f[i].kind == K_MLIMIT ||
			    f[i].kind == K_MCOST) ? 2 : 1;
	msgpack_pack_map(pk, n);
	PKEY("v");
	msgpack_pack_int(pk, TOKQ_PROTOCOL);
	PKEY("op");
	PKEY(r->cmd->op);
	for (i = 0; f[i].name != NULL; i++) {
		v = &r->v[i];
		if (!v->set)
			continue;
		switch (f[i].kind) {
		case K_LOCAL:
		case K_RFORMAT:
		case K_XFORMAT:
		case K__MAX:
			break;
		case K_ID:
		case K_KEY:
		case K_JSON:
		case K_USAGE:
		case K_PERIOD:
			PKEY(f[i].key);
			PSTR(v->s, v->slen);
			break;
		case K_TOKENS:
		case K_CALL:
		case K_TTL:
		case K_DAYS:
		case K_TOP:
		case K_RTOP:
		case K_LAST:
		case K_TIME:
		case K_DURATION:
			PKEY(f[i].key);
			msgpack_pack_int64(pk, v->i);
			break;
		case K_USD:
		case K_PRICE:
			PKEY(f[i].key);
			msgpack_pack_double(pk, (double)v->i / TOKQ_NUSD_PER_USD);
			break;
		case K_WINDOW:
			PKEY(f[i].key);
			PKEY(v->canon);
			break;
		case K_BOOL:
			PKEY(f[i].key);
			msgpack_pack_true(pk);
			break;
		case K_CONST:
			PKEY(f[i].key);
			PKEY(f[i].cval);
			break;
		case K_SEL:
			PKEY("selector");
			PKEY(f[i].key);
			PKEY("subject");
			PSTR(v->s, v->slen);
			break;
		case K_SEL0:
			PKEY("selector");
			PKEY(f[i].key);
			break;
		case K_METRIC:
			PKEY("metric");
			PKEY(f[i].key);
			break;
		case K_MLIMIT:
		case K_MCOST:
			PKEY("metric");
			PKEY(f[i].key);
			PKEY("limit");
			if (f[i].kind == K_MLIMIT || v->i == -1)
				msgpack_pack_int64(pk, v->i);
			else
				msgpack_pack_double(pk, (double)v->i / TOKQ_NUSD_PER_USD);
			break;
		}
	}
#undef PKEY
#undef PSTR
}

/*
 * Form the error of a reply with code != 0 and return its exit code, in
 * the command's own words: "limit set needs an admin …", not the wire op;
 * "only an admin may give --at", not the wire key.
 */
static int
reply_fail(struct job *jb, const msgpack_object *reply, int64_t code)
{
	static const char	 give[] = "only an admin may give ";
	const struct flag	*fl;
	const char		*op = jb->cmd->op;
	char			 err[1024], name[64], *cut;
	size_t			 n = strlen(op);

	if (mp_str(reply, "error", err, sizeof(err)) == NULL)
		snprintf(err, sizeof(err), "%s (code %lld)", tokq_code_name((int)code),
		    (long long)code);
	if (code == TOKQ_E_TEMP) {
		/* the daemon's own "nothing was kept, retry" comes once, below */
		if ((cut = strstr(err, "nothing was kept")) != NULL) {
			while (cut > err && strchr(";, ", cut[-1]) != NULL)
				cut--;
			*cut = '\0';
		}
		return temp_fail(jb, false, "tokqd refused the request for now (%s)",
		    err[0] ? err : "busy");
	}
	cmd_name(jb->cmd, name, sizeof(name));
	if (code == TOKQ_E_PERM && strncmp(err, give, sizeof(give) - 1) == 0)
		for (fl = jb->cmd->flags; fl->name != NULL; fl++)
			if (fl->key != NULL && strcmp(fl->key, err + sizeof(give) - 1) == 0) {
				snprintf(err + sizeof(give) - 1, sizeof(err) - sizeof(give) + 1,
				    "--%s", fl->name);
				break;
			}
	if (strncmp(err, op, n) == 0 && err[n] == ' ')
		return job_fail(jb, tokq_code_exit((int)code), "%s%s", name, err + n);
	return job_fail(jb, tokq_code_exit((int)code), "%s: %s", name, err);
}

/*
 * The reply map in the frame buf (len bytes), unpacked into up, in *reply:
 * 0; 70 for a malformed frame; a reply with code != 0 gives its code.
 */
int
reply_of(struct job *jb, const char *buf, size_t len, msgpack_unpacked *up,
    const msgpack_object **reply)
{
	const msgpack_object	*code;
	size_t			 off = 0;

	if (tokq_frame_check(buf, len) != 0 ||
	    msgpack_unpack_next(up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    up->data.type != MSGPACK_OBJECT_MAP ||
	    (code = mp_get(&up->data, "code")) == NULL ||
	    (code->type != MSGPACK_OBJECT_POSITIVE_INTEGER))
		return job_fail(jb, TOKQ_EXIT_SOFTWARE, "malformed reply from tokqd");
	*reply = &up->data;
	if (code->via.u64 != TOKQ_OK)
		return reply_fail(jb, &up->data,
		    (int64_t)(code->via.u64 > 255 ? 255 : code->via.u64));
	return 0;
}

/*
 * One request on an open connection: its reply map in *reply (in up,
 * which points into the frame *buf); 0 or the exit code of what failed.
 */
int
client_call(struct job *jb, int fd, const msgpack_sbuffer *req, msgpack_unpacked *up,
    char **buf, const msgpack_object **reply)
{
	size_t	 len;

	if (req->size > TOKQ_FRAME_MAX)
		return job_fail(jb, TOKQ_EXIT_SOFTWARE, "a request is larger than %d bytes",
		    TOKQ_FRAME_MAX);
	free(*buf);
	if ((*buf = conn_call(jb, fd, req->data, req->size, &len)) == NULL)
		return jb->exit;
	return reply_of(jb, *buf, len, up, reply);
}

/*
 * r packed into sb (emptied first) and judged against the frame limit:
 * 0, or 64.  sb's memory is kept, so a caller sending many requests
 * (tokq batch) allocates it once.
 */
int
request_build(struct job *jb, const struct req *r, msgpack_sbuffer *sb)
{
	msgpack_packer	 pk;

	jb->keyed = req_val(r, "key")->set;
	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	request_pack(r, &pk);
	if (sb->size > TOKQ_FRAME_MAX)
		return usage_fail(jb, "the request is larger than %d bytes", TOKQ_FRAME_MAX);
	return 0;
}

/*
 * Before a command connects: r packed into sb (request_build), and the
 * socket path found from sockopt (--socket), TOKQ_SOCKET or
 * XDG_RUNTIME_DIR (69 when there is none).
 */
int
request_prepare(struct job *jb, const struct req *r, const char *sockopt,
    msgpack_sbuffer *sb, char *sock, size_t socklen)
{
	int	 rc;

	if ((rc = request_build(jb, r, sb)) != 0)
		return rc;
	if (tokq_socket_path(sockopt, sock, socklen) == -1)
		return job_fail(jb, TOKQ_EXIT_UNAVAILABLE, "no socket path: give --socket, or "
		    "set TOKQ_SOCKET or XDG_RUNTIME_DIR");
	return 0;
}

/*
 * What a command's checked reply in a comes to: the object --json prints
 * in jb->out (when jb->json, or report --format json), and the exit code:
 * 0, or 1 when check denies.
 */
int
cmd_result(struct job *jb, const struct req *r, const struct answer *a)
{
	const char	*fmt = req_str(r, "format");

	if (jb->json || (fmt != NULL && strcmp(fmt, "json") == 0))
		jb->out = json_of_reply(a->reply);
	if (strcmp(r->cmd->op, "check") == 0 && !mp_bool(a->reply, "allowed"))
		return TOKQ_EXIT_DENIED;	/* the one result that is not a success */
	return TOKQ_EXIT_OK;
}

/*
 * One command in-process, on its own connection to tokqd (sockopt as
 * --socket, or NULL): r's request, its reply in a (for a screen;
 * answer_free() it), the object --json prints in jb->out, and the exit
 * code returned: cmd_result's, or the code of the error formed in jb.
 */
int
cmd_exec(struct job *jb, const struct req *r, const char *sockopt, struct answer *a)
{
	msgpack_sbuffer		 sb;
	int			 fd, rc;
	char			 sock[PATH_MAX];

	memset(a, 0, sizeof(*a));
	msgpack_unpacked_init(&a->up);
	msgpack_sbuffer_init(&sb);
	if ((rc = request_prepare(jb, r, sockopt, &sb, sock, sizeof(sock))) == 0) {
		if ((fd = conn_connect(jb, sock)) == -1)
			rc = jb->exit;
		else {
			rc = client_call(jb, fd, &sb, &a->up, &a->buf, &a->reply);
			close(fd);
		}
	}
	msgpack_sbuffer_destroy(&sb);
	if (rc != 0)
		return rc;
	return cmd_result(jb, r, a);
}

void
answer_free(struct answer *a)
{
	msgpack_unpacked_destroy(&a->up);
	free(a->buf);
	a->buf = NULL;
	a->reply = NULL;
}
