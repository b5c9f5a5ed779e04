/* raftkv-node: one node of the reference source cluster, a key-value
 * store (kv_store.h) replicated with libraft 0.15 over raft_uv_tcp, whose
 * committed entries and snapshots go to a spool through the tap wrapper
 * (tap/tap.h). Clients speak the line protocol of kv_text.h on
 * --client-listen; docs/TAP.md lists the commands.
 *
 *   raftkv-node --id N --address 127.0.0.1:PORT
 *               --cluster 1=127.0.0.1:P1,2=127.0.0.1:P2,3=127.0.0.1:P3
 *               --data DIR --spool DIR --client-listen 127.0.0.1:CPORT
 *               --cluster-id UUID --database NAME
 *               [--client-cluster 1=127.0.0.1:C1,...]
 *               [--snapshot-threshold N] [--snapshot-trailing N]
 *               [--election-timeout MS] [--install-snapshot-timeout MS]
 *               [--tap-sync every|MS] [--spool-trailing N] [--join]
 *               [--reserve-max-bytes N] [--reserve-max-age MS]
 *               [--spool-segment-size BYTES]
 *
 * --join: the node joins an existing cluster (its data directory empty,
 * or pre-seeded by raftkv-seed --join) and waits for the leader to add
 * it: a client sends the leader "add ID HOST:PORT" (learner, then voter).
 *
 * Writes (put, cas, del, cad) go through raft_apply and are answered
 * with the committed index once applied on this node. Reads (get, scan)
 * first commit a barrier, so a node that lost leadership without knowing
 * cannot answer from stale state. A node that is not the leader answers
 * REDIRECT with the leader's client address (from --client-cluster).
 *
 * This file is the I/O glue (libuv loop, sockets, signals, clock). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "examples/raftkv/kv_text.h"
#include "kv/kv_command.h"
#include "kv/kv_store.h"
#include "tap/tap.h"

#define NODES_MAX 16
#define ADDRESS_MAX 64

struct peer {
	unsigned long long id;
	char address[ADDRESS_MAX];
	char client[ADDRESS_MAX]; /* "" when unknown */
};

struct args {
	unsigned long long id;
	const char *address, *data, *spool, *client_listen, *cluster_id,
	    *database;
	struct peer peers[NODES_MAX];
	unsigned n_peers;
	unsigned snapshot_threshold, snapshot_trailing, election_timeout,
	    install_snapshot_timeout;
	bool sync_every;
	bool join; /* --join: wait to be added, do not bootstrap */
	uint64_t sync_interval_ms, spool_trailing;
	/* Retention reservations' budget (tap_options); UINT64_MAX: the
	 * tap's default. */
	uint64_t reserve_max_bytes, reserve_max_age_ms;
	uint64_t spool_segment_size; /* 0: the wal's default */
};

/* The application FSM, before the tap wraps it. */
struct kvfsm {
	struct kv_store *store;
	struct kv_result result; /* of the last apply, read by the apply cb */
};

struct node {
	struct args a;
	uv_loop_t loop;
	uv_signal_t sigint, sigterm;
	uv_timer_t sync_timer;
	uv_tcp_t listener;
	struct raft_uv_transport transport;
	struct raft_io io;
	struct kvfsm kv;
	struct raft_fsm inner, fsm;
	struct raft raft;
	struct tap *tap;
	struct conn *conns; /* open client connections */
	bool stopping;
	int exit_code;
};

struct conn {
	uv_tcp_t tcp;
	struct node *node;
	char *in;
	size_t in_len, in_cap;
	bool busy;                /* a request is waiting for raft */
	bool closing;             /* uv_close was called */
	bool handle_closed;       /* its close callback ran */
	struct conn *prev, *next; /* in node->conns while open */
};

/* A write or a read barrier on behalf of a connection. */
struct pending {
	union {
		struct raft_apply apply;
		struct raft_barrier barrier;
	} req;
	struct conn *conn;
	enum kv_op op;
	char *line; /* read requests: the tokens, re-parsed after the barrier */
	size_t scan_limit;
};

/* ---- the FSM ---------------------------------------------------------- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                     void **result)
{
	struct kvfsm *f = fsm->data;
	char errmsg[MA_ERRMSG_SIZE];
	int rc;

	rc = kv_store_apply_buf(f->store, buf->base, buf->len, &f->result,
	                        errmsg);
	if (rc == MA_ERR_NOMEM)
		return RAFT_NOMEM;
	if (rc != 0) {
		/* Every node sees the same bytes and rejects them the same
		 * way: a no-op, not a reason to stop applying. */
		log_warn("raftkv: ignoring a malformed command: %s", errmsg);
		*result = NULL;
		return 0;
	}
	*result = &f->result;
	return 0;
}

/* Version 2 FSM: raft does not own the snapshot buffers, finalize frees
 * them (so they can come from malloc, not raft_malloc). */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
	struct kvfsm *f = fsm->data;
	char errmsg[MA_ERRMSG_SIZE];
	void *data;
	size_t len;

	*bufs = malloc(sizeof **bufs);
	if (*bufs == NULL)
		return RAFT_NOMEM;
	if (kv_store_serialize(f->store, &data, &len, errmsg) != 0) {
		free(*bufs);
		*bufs = NULL;
		return RAFT_NOMEM;
	}
	(*bufs)[0].base = data;
	(*bufs)[0].len = len;
	*n_bufs = 1;
	return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm,
                                 struct raft_buffer *bufs[], unsigned *n_bufs)
{
	if (*bufs != NULL) {
		for (unsigned i = 0; i < *n_bufs; i++)
			free((*bufs)[i].base);
		free(*bufs);
	}
	*bufs = NULL;
	*n_bufs = 0;
	return 0;
}

/* libraft 0.15: restore owns buf->base on success only. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct kvfsm *f = fsm->data;
	char errmsg[MA_ERRMSG_SIZE];
	int rc = kv_store_restore(f->store, buf->base, buf->len, errmsg);

	if (rc != 0) {
		log_error("raftkv: cannot restore snapshot: %s", errmsg);
		return rc == MA_ERR_NOMEM ? RAFT_NOMEM : RAFT_MALFORMED;
	}
	raft_free(buf->base);
	return 0;
}

/* ---- answers ------------------------------------------------------------ */

static void write_cb(uv_write_t *req, int status)
{
	free(req->data);
	free(req);
}

static void conn_close(struct conn *c);

/* Sends text (len bytes, already newline-terminated). Takes ownership of
 * a malloc()ed text. */
static void send_owned(struct conn *c, char *text, size_t len)
{
	uv_write_t *req;
	uv_buf_t buf;

	if (c->closing) {
		free(text);
		return;
	}
	req = malloc(sizeof *req);
	if (req == NULL) {
		free(text);
		conn_close(c);
		return;
	}
	req->data = text;
	buf = uv_buf_init(text, (unsigned)len);
	if (uv_write(req, (uv_stream_t *)&c->tcp, &buf, 1, write_cb) != 0) {
		free(text);
		free(req);
		conn_close(c);
	}
}

static void reply(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reply(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	char *text;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		conn_close(c);
		return;
	}
	send_owned(c, text, (size_t)n);
}

static const char *peer_client(const struct node *n, unsigned long long id)
{
	for (unsigned i = 0; i < n->a.n_peers; i++)
		if (n->a.peers[i].id == id && n->a.peers[i].client[0] != '\0')
			return n->a.peers[i].client;
	return "-";
}

/* Answers a request this node cannot serve as a follower. */
static void redirect(struct conn *c)
{
	struct node *n = c->node;
	raft_id id = 0;
	const char *address = NULL;

	raft_leader(&n->raft, &id, &address);
	if (id == 0 || id == n->raft.id)
		reply(c, "ERR no-leader (election in progress, retry)\n");
	else
		reply(c, "REDIRECT id=%llu client=%s\n", id,
		      peer_client(n, id));
}

/* ---- requests ----------------------------------------------------------- */

static void conn_process(struct conn *c);

static void finish_request(struct conn *c)
{
	c->busy = false;
	if (c->closing) {
		if (c->handle_closed)
			free(c);
		return;
	}
	conn_process(c);
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct pending *p = req->data;
	struct conn *c = p->conn;
	const struct kv_result *res = result;
	raft_index index = req->index;

	free(p);
	if (!c->closing) {
		if (status != 0)
			reply(c,
			      "ERR %s (the write may or may not have been "
			      "applied)\n",
			      raft_strerror(status));
		else if (res == NULL)
			reply(c, "ERR malformed command index=%llu\n", index);
		else if (res->status == KV_OK)
			reply(c, "OK index=%llu version=%" PRIu64 "\n", index,
			      res->version);
		else
			reply(c, "%s index=%llu version=%" PRIu64 "\n",
			      res->status == KV_NOT_FOUND ? "NOTFOUND"
			                                  : "MISMATCH",
			      index, res->version);
	}
	finish_request(c);
}

/* Proposes a write command. */
static void submit_write(struct conn *c, const struct kv_command *cmd)
{
	struct node *n = c->node;
	char errmsg[MA_ERRMSG_SIZE];
	struct raft_buffer buf;
	struct pending *p;
	size_t cap;
	int rc;

	/* libraft 0.15 mis-encodes payloads whose length is not a multiple
	 * of 8 (tap/tap.h): pad; the command carries its own length. */
	cap = tap_raft_pad_len(kv_command_size(cmd));
	buf.base = raft_malloc(cap);
	p = calloc(1, sizeof *p);
	if (buf.base == NULL || p == NULL) {
		raft_free(buf.base);
		free(p);
		reply(c, "ERR out of memory\n");
		return;
	}
	rc = kv_command_encode(cmd, buf.base, cap, 8, &buf.len, errmsg);
	if (rc != 0) {
		raft_free(buf.base);
		free(p);
		reply(c, "ERR %s\n", errmsg);
		return;
	}
	p->conn = c;
	p->op = cmd->op;
	p->req.apply.data = p;
	rc = raft_apply(&n->raft, &p->req.apply, &buf, 1, apply_cb);
	if (rc != 0) {
		raft_free(buf.base);
		free(p);
		if (rc == RAFT_NOTLEADER)
			redirect(c);
		else
			reply(c, "ERR %s\n", raft_strerror(rc));
		return;
	}
	c->busy = true;
}

struct scan_out {
	char *text;
	size_t len, cap;
	bool nomem;
};

static void out_append(struct scan_out *o, const char *s, size_t n)
{
	if (o->nomem)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap == 0 ? 4096 : o->cap;
		char *t;

		while (o->len + n + 1 > cap)
			cap *= 2;
		t = realloc(o->text, cap);
		if (t == NULL) {
			o->nomem = true;
			return;
		}
		o->text = t;
		o->cap = cap;
	}
	memcpy(o->text + o->len, s, n);
	o->len += n;
	o->text[o->len] = '\0';
}

static void out_token(struct scan_out *o, const uint8_t *buf, size_t len)
{
	char *enc = malloc(kv_text_encoded_len(buf, len) + 1);

	if (enc == NULL) {
		o->nomem = true;
		return;
	}
	out_append(o, enc, kv_text_encode(buf, len, enc));
	free(enc);
}

static int scan_line(void *arg, const uint8_t *key, size_t key_len,
                     const uint8_t *value, size_t value_len, uint64_t version)
{
	struct scan_out *o = arg;
	char num[32];

	out_token(o, key, key_len);
	out_append(o, num,
	           (size_t)snprintf(num, sizeof num, " %" PRIu64 " ", version));
	out_token(o, value, value_len);
	out_append(o, "\n", 1);
	return o->nomem;
}

/* Serves a read from the local store (after the barrier committed). */
static void serve_read(struct conn *c, const struct kv_command *cmd,
                       size_t limit)
{
	struct node *n = c->node;
	raft_index applied = raft_last_applied(&n->raft);
	struct scan_out body = {0}, head = {0};
	const uint8_t *value;
	size_t value_len, count;
	uint64_t version;
	char line[96];

	if (cmd->op == KV_OP_GET) {
		if (kv_store_get(n->kv.store, cmd->ns, cmd->ns_len, cmd->key,
		                 cmd->key_len, &value, &value_len,
		                 &version) != 0) {
			reply(c, "NOTFOUND applied=%llu\n", applied);
			return;
		}
		out_append(
		    &head, line,
		    (size_t)snprintf(line, sizeof line,
		                     "OK version=%" PRIu64 " value=", version));
		out_token(&head, value, value_len);
		out_append(&head, line,
		           (size_t)snprintf(line, sizeof line,
		                            " applied=%llu\n", applied));
	} else {
		count =
		    kv_store_scan(n->kv.store, cmd->ns, cmd->ns_len, cmd->key,
		                  cmd->key_len, limit, scan_line, &body);
		out_append(&head, line,
		           (size_t)snprintf(line, sizeof line,
		                            "OK count=%zu applied=%llu\n",
		                            count, applied));
		if (body.len > 0)
			out_append(&head, body.text, body.len);
		free(body.text);
	}
	if (head.nomem || body.nomem) {
		free(head.text);
		reply(c, "ERR out of memory\n");
		return;
	}
	send_owned(c, head.text, head.len);
}

/* Parses the tokens of a request into cmd (strings decoded in place).
 * Returns 0 or -1 after replying with the error. */
static int parse_command(struct conn *c, char **tok, int ntok,
                         struct kv_command *cmd, size_t *limit)
{
	static const struct {
		const char *name;
		enum kv_op op;
		int min, max; /* tokens, the verb included */
	} verbs[] = {
	    {"put", KV_OP_PUT, 4, 4}, {"cas", KV_OP_CAS, 5, 5},
	    {"del", KV_OP_DEL, 3, 3}, {"cad", KV_OP_CAD, 4, 4},
	    {"get", KV_OP_GET, 3, 3}, {"scan", KV_OP_SCAN, 3, 4},
	};
	char errmsg[MA_ERRMSG_SIZE], *end;
	int v = -1;

	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(tok[0], verbs[i].name) == 0)
			v = (int)i;
	if (v < 0) {
		reply(c, "ERR unknown command '%.32s'\n", tok[0]);
		return -1;
	}
	if (ntok < verbs[v].min || ntok > verbs[v].max) {
		reply(c,
		      "ERR usage: see docs/TAP.md (%s takes %d-%d "
		      "arguments)\n",
		      tok[0], verbs[v].min - 1, verbs[v].max - 1);
		return -1;
	}
	memset(cmd, 0, sizeof *cmd);
	if (kv_text_decode(tok[1], &cmd->ns_len) != 0 ||
	    kv_text_decode(tok[2], &cmd->key_len) != 0) {
		reply(c, "ERR bad %%XX escape in the namespace or key\n");
		return -1;
	}
	cmd->op = verbs[v].op;
	cmd->ns = tok[1];
	cmd->key = (const uint8_t *)tok[2];
	*limit = 0;
	if (cmd->op == KV_OP_CAS || cmd->op == KV_OP_CAD) {
		errno = 0;
		cmd->expected = strtoull(tok[3], &end, 10);
		if (errno != 0 || *end != '\0' || tok[3][0] == '-') {
			reply(c, "ERR expected version must be a number\n");
			return -1;
		}
	}
	if (cmd->op == KV_OP_PUT || cmd->op == KV_OP_CAS) {
		char *val = tok[ntok - 1];

		if (kv_text_decode(val, &cmd->value_len) != 0) {
			reply(c, "ERR bad %%XX escape in the value\n");
			return -1;
		}
		cmd->value = (const uint8_t *)val;
	}
	if (cmd->op == KV_OP_SCAN && ntok == 4) {
		errno = 0;
		*limit = (size_t)strtoull(tok[3], &end, 10);
		if (errno != 0 || *end != '\0') {
			reply(c, "ERR scan limit must be a number\n");
			return -1;
		}
	}
	if (kv_command_check(cmd, errmsg) != 0) {
		reply(c, "ERR %s\n", errmsg);
		return -1;
	}
	return 0;
}

static void barrier_cb(struct raft_barrier *req, int status)
{
	struct pending *p = req->data;
	struct conn *c = p->conn;

	if (!c->closing) {
		if (status != 0) {
			reply(c, "ERR %s\n", raft_strerror(status));
		} else {
			char *tok[KV_TOKENS_MAX];
			int ntok = kv_text_split(p->line, tok, KV_TOKENS_MAX);
			struct kv_command cmd;
			size_t limit;

			if (parse_command(c, tok, ntok, &cmd, &limit) == 0)
				serve_read(c, &cmd, limit);
		}
	}
	free(p->line);
	free(p);
	finish_request(c);
}

/* Reads wait for a barrier: then this node was leader when it committed
 * and has applied everything before it. */
static void submit_read(struct conn *c, const char *line)
{
	struct pending *p = calloc(1, sizeof *p);
	int rc;

	if (p == NULL || (p->line = strdup(line)) == NULL) {
		free(p);
		reply(c, "ERR out of memory\n");
		return;
	}
	p->conn = c;
	p->req.barrier.data = p;
	rc = raft_barrier(&c->node->raft, &p->req.barrier, barrier_cb);
	if (rc != 0) {
		free(p->line);
		free(p);
		if (rc == RAFT_NOTLEADER)
			redirect(c);
		else
			reply(c, "ERR %s\n", raft_strerror(rc));
		return;
	}
	c->busy = true;
}

/* "add ID ADDRESS": a new member joins as a learner (spare, then
 * standby: it receives the log but does not vote), then becomes a voter
 * once libraft's catch-up rounds found it up to date. */
struct join {
	struct raft_change change;
	struct conn *conn;
	raft_id id;
	int step; /* 0 adding (spare), 1 standby, 2 voter */
};

static void join_cb(struct raft_change *req, int status)
{
	struct join *j = req->data;
	struct conn *c = j->conn;
	int rc = status;

	if (status == 0 && j->step < 2) {
		j->step++;
		rc = raft_assign(&c->node->raft, &j->change, j->id,
		                 j->step == 1 ? RAFT_STANDBY : RAFT_VOTER,
		                 join_cb);
		if (rc == 0)
			return;
	}
	if (!c->closing) {
		if (rc == 0)
			reply(c, "OK joined id=%llu last=%llu\n", j->id,
			      raft_last_index(&c->node->raft));
		else
			reply(c, "ERR join of %llu: %s\n", j->id,
			      raft_strerror(rc));
	}
	free(j);
	finish_request(c);
}

static void submit_join(struct conn *c, char **tok, int ntok)
{
	struct join *j;
	char *end;
	int rc;

	if (ntok != 3) {
		reply(c, "ERR usage: add ID HOST:PORT\n");
		return;
	}
	j = calloc(1, sizeof *j);
	if (j == NULL) {
		reply(c, "ERR out of memory\n");
		return;
	}
	errno = 0;
	j->id = strtoull(tok[1], &end, 10);
	if (errno != 0 || *end != '\0' || j->id == 0) {
		free(j);
		reply(c, "ERR add: bad node id '%.32s'\n", tok[1]);
		return;
	}
	j->conn = c;
	j->change.data = j;
	rc = raft_add(&c->node->raft, &j->change, j->id, tok[2], join_cb);
	if (rc != 0) {
		free(j);
		if (rc == RAFT_NOTLEADER)
			redirect(c);
		else
			reply(c, "ERR add: %s\n", raft_strerror(rc));
		return;
	}
	c->busy = true;
}

static const char *state_name(int state)
{
	switch (state) {
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_LEADER:
		return "leader";
	default:
		return "unavailable";
	}
}

/* Handles one request line (NUL-terminated, no newline). */
static void handle_line(struct conn *c, char *line)
{
	struct node *n = c->node;
	char *tok[KV_TOKENS_MAX], *copy;
	struct kv_command cmd;
	size_t limit;
	int ntok;

	copy = strdup(line);
	if (copy == NULL) {
		reply(c, "ERR out of memory\n");
		return;
	}
	ntok = kv_text_split(line, tok, KV_TOKENS_MAX);
	if (ntok <= 0) {
		if (ntok < 0)
			reply(c, "ERR too many arguments\n");
		free(copy);
		return;
	}
	if (strcmp(tok[0], "fingerprint") == 0) {
		reply(c,
		      "OK fingerprint=%08" PRIx32 " count=%" PRIu64
		      " revision=%" PRIu64 " applied=%llu\n",
		      kv_store_fingerprint(n->kv.store),
		      kv_store_count(n->kv.store),
		      kv_store_revision(n->kv.store),
		      raft_last_applied(&n->raft));
	} else if (strcmp(tok[0], "applied-index") == 0) {
		reply(c,
		      "OK applied=%llu commit=%llu last=%llu "
		      "spool_first=%" PRIu64 " spool_last=%" PRIu64 "\n",
		      raft_last_applied(&n->raft), n->raft.commit_index,
		      raft_last_index(&n->raft), tap_first_index(n->tap),
		      tap_last_index(n->tap));
	} else if (strcmp(tok[0], "leader") == 0) {
		raft_id id = 0;
		const char *address = NULL;

		raft_leader(&n->raft, &id, &address);
		reply(c, "OK id=%llu raft=%s client=%s self=%llu state=%s\n",
		      id, address != NULL ? address : "-",
		      id != 0 ? peer_client(n, id) : "-", n->raft.id,
		      state_name(raft_state(&n->raft)));
	} else if (strcmp(tok[0], "add") == 0) {
		submit_join(c, tok, ntok);
	} else if (parse_command(c, tok, ntok, &cmd, &limit) == 0) {
		if (raft_state(&n->raft) != RAFT_LEADER)
			redirect(c);
		else if (kv_op_is_write(cmd.op))
			submit_write(c, &cmd);
		else
			submit_read(c, copy);
	}
	free(copy);
}

/* Handles buffered lines until one needs raft. */
static void conn_process(struct conn *c)
{
	while (!c->busy && !c->closing) {
		char *nl = memchr(c->in, '\n', c->in_len);
		size_t used;

		if (nl == NULL)
			break;
		*nl = '\0';
		used = (size_t)(nl - c->in) + 1;
		handle_line(c, c->in);
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
	}
}

static void conn_closed_cb(uv_handle_t *h)
{
	struct conn *c = h->data;

	free(c->in);
	c->in = NULL;
	c->handle_closed = true;
	if (!c->busy)
		free(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->node->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	size_t want = 65536;

	if (c->in_cap - c->in_len < want && c->in_cap < KV_LINE_MAX) {
		size_t cap = c->in_len + want;
		char *in;

		if (cap > KV_LINE_MAX)
			cap = KV_LINE_MAX;
		in = realloc(c->in, cap);
		if (in != NULL) {
			c->in = in;
			c->in_cap = cap;
		}
	}
	*buf =
	    uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)nread;
	conn_process(c);
	if (!c->closing && c->in_len == c->in_cap && c->in_cap >= KV_LINE_MAX &&
	    memchr(c->in, '\n', c->in_len) == NULL) {
		reply(c, "ERR line longer than %u bytes\n", KV_LINE_MAX);
		conn_close(c);
	}
}

static void accept_cb(uv_stream_t *server, int status)
{
	struct node *n = server->data;
	struct conn *c;

	if (status != 0)
		return;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return;
	c->node = n;
	c->next = n->conns;
	if (n->conns != NULL)
		n->conns->prev = c;
	n->conns = c;
	uv_tcp_init(&n->loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
}

/* ---- life cycle -----------------------------------------------------------
 */

static void handle_closed_cb(uv_handle_t *h)
{
}

static void raft_closed_cb(struct raft *r)
{
	struct node *n = r->data;

	raft_uv_close(&n->io);
	raft_uv_tcp_close(&n->transport);
	uv_close((uv_handle_t *)&n->sync_timer, handle_closed_cb);
	uv_close((uv_handle_t *)&n->sigint, handle_closed_cb);
	uv_close((uv_handle_t *)&n->sigterm, handle_closed_cb);
}

static void stop(struct node *n)
{
	if (n->stopping)
		return;
	n->stopping = true;
	log_info("raftkv: node %llu stopping", n->a.id);
	uv_close((uv_handle_t *)&n->listener, handle_closed_cb);
	while (n->conns != NULL)
		conn_close(n->conns);
	raft_close(&n->raft, raft_closed_cb);
}

static void signal_cb(uv_signal_t *h, int signum)
{
	stop(h->data);
}

static void sync_timer_cb(uv_timer_t *t)
{
	struct node *n = t->data;
	char errmsg[MA_ERRMSG_SIZE];

	if (tap_sync_if_due(n->tap, clock_mono_ms(), errmsg) != 0) {
		log_error("raftkv: spool sync failed: %s; stopping", errmsg);
		n->exit_code = 1;
		stop(n);
		return;
	}
	/* What this node knows of its leader, for mirrors choosing a
	 * fresh source (rate-limited inside; a hint, so only logged). */
	if (!n->stopping && tap_raft_freshness(&n->fsm, errmsg) != 0)
		log_warn("raftkv: freshness record: %s", errmsg);
}

/* ---- arguments ------------------------------------------------------------
 */

static void usage(void)
{
	fprintf(stderr,
	        "usage: raftkv-node --id N --address HOST:PORT --cluster "
	        "ID=HOST:PORT,... --data DIR --spool DIR\n"
	        "         --client-listen HOST:PORT --cluster-id UUID "
	        "--database NAME\n"
	        "         [--client-cluster ID=HOST:PORT,...] "
	        "[--snapshot-threshold N] [--snapshot-trailing N]\n"
	        "         [--election-timeout MS] [--install-snapshot-timeout "
	        "MS]\n"
	        "         [--tap-sync every|MS] [--spool-trailing N] "
	        "[--join]\n"
	        "         [--reserve-max-bytes N] [--reserve-max-age MS]\n"
	        "         [--spool-segment-size BYTES]\n");
}

static int parse_uint(const char *flag, const char *s, unsigned long long max,
                      unsigned long long *out)
{
	char *end;

	errno = 0;
	if (s == NULL || *s < '0' || *s > '9')
		goto bad;
	*out = strtoull(s, &end, 10);
	if (errno == 0 && *end == '\0' && *out <= max)
		return 0;
bad:
	fprintf(stderr, "raftkv-node: %s: bad number '%s'\n", flag,
	        s != NULL ? s : "");
	return -1;
}

/* Parses "1=host:port,2=host:port"; client selects which address field
 * is filled. */
static int parse_cluster(struct args *a, const char *list, bool client)
{
	char *copy = strdup(list), *save = NULL, *item;

	if (copy == NULL)
		return -1;
	for (item = strtok_r(copy, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		unsigned long long id;
		struct peer *p = NULL;

		if (eq == NULL || strlen(eq + 1) == 0 ||
		    strlen(eq + 1) >= ADDRESS_MAX)
			goto bad;
		*eq = '\0';
		if (parse_uint("--cluster", item, UINT_MAX, &id) != 0 ||
		    id == 0)
			goto bad;
		for (unsigned i = 0; i < a->n_peers; i++)
			if (a->peers[i].id == id)
				p = &a->peers[i];
		if (p == NULL) {
			if (a->n_peers == NODES_MAX)
				goto bad;
			p = &a->peers[a->n_peers++];
			memset(p, 0, sizeof *p);
			p->id = id;
		}
		strcpy(client ? p->client : p->address, eq + 1);
	}
	free(copy);
	return 0;
bad:
	fprintf(stderr,
	        "raftkv-node: bad cluster list '%s' (want "
	        "ID=HOST:PORT,...)\n",
	        list);
	free(copy);
	return -1;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	unsigned long long v;

	memset(a, 0, sizeof *a);
	a->snapshot_threshold = 1024;
	a->snapshot_trailing = 128;
	a->election_timeout = 1000;
	a->install_snapshot_timeout = 5000;
	a->sync_interval_ms = 10;
	a->spool_trailing = 1024;
	a->reserve_max_bytes = UINT64_MAX;
	a->reserve_max_age_ms = UINT64_MAX;
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i],
		           *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(f, "--join") == 0) {
			a->join = true;
			continue;
		}
		if (strcmp(f, "--help") == 0 || val == NULL) {
			usage();
			return -1;
		}
		i++;
		if (strcmp(f, "--id") == 0) {
			if (parse_uint(f, val, UINT_MAX, &a->id) != 0)
				return -1;
		} else if (strcmp(f, "--address") == 0) {
			a->address = val;
		} else if (strcmp(f, "--cluster") == 0) {
			if (parse_cluster(a, val, false) != 0)
				return -1;
		} else if (strcmp(f, "--client-cluster") == 0) {
			if (parse_cluster(a, val, true) != 0)
				return -1;
		} else if (strcmp(f, "--data") == 0) {
			a->data = val;
		} else if (strcmp(f, "--spool") == 0) {
			a->spool = val;
		} else if (strcmp(f, "--client-listen") == 0) {
			a->client_listen = val;
		} else if (strcmp(f, "--cluster-id") == 0) {
			a->cluster_id = val;
		} else if (strcmp(f, "--database") == 0) {
			a->database = val;
		} else if (strcmp(f, "--snapshot-threshold") == 0) {
			if (parse_uint(f, val, UINT_MAX, &v) != 0 || v == 0)
				return -1;
			a->snapshot_threshold = (unsigned)v;
		} else if (strcmp(f, "--snapshot-trailing") == 0) {
			if (parse_uint(f, val, UINT_MAX, &v) != 0)
				return -1;
			a->snapshot_trailing = (unsigned)v;
		} else if (strcmp(f, "--election-timeout") == 0) {
			if (parse_uint(f, val, 60000, &v) != 0 || v < 50)
				return -1;
			a->election_timeout = (unsigned)v;
		} else if (strcmp(f, "--install-snapshot-timeout") == 0) {
			if (parse_uint(f, val, 600000, &v) != 0 || v < 50)
				return -1;
			a->install_snapshot_timeout = (unsigned)v;
		} else if (strcmp(f, "--tap-sync") == 0) {
			if (strcmp(val, "every") == 0)
				a->sync_every = true;
			else if (parse_uint(f, val, 60000, &v) != 0 || v == 0)
				return -1;
			else
				a->sync_interval_ms = v;
		} else if (strcmp(f, "--spool-trailing") == 0) {
			if (parse_uint(f, val, UINT64_MAX, &v) != 0)
				return -1;
			a->spool_trailing = v;
		} else if (strcmp(f, "--spool-segment-size") == 0) {
			/* Small segments let tests see retention at work. */
			if (parse_uint(f, val, UINT64_MAX, &v) != 0)
				return -1;
			a->spool_segment_size = v;
		} else if (strcmp(f, "--reserve-max-bytes") == 0) {
			if (parse_uint(f, val, UINT64_MAX - 1, &v) != 0)
				return -1;
			a->reserve_max_bytes = v;
		} else if (strcmp(f, "--reserve-max-age") == 0) {
			if (parse_uint(f, val, UINT64_MAX - 1, &v) != 0)
				return -1;
			a->reserve_max_age_ms = v;
		} else {
			fprintf(stderr, "raftkv-node: unknown option %s\n", f);
			usage();
			return -1;
		}
	}
	if (a->id == 0 || a->address == NULL || a->n_peers == 0 ||
	    a->data == NULL || a->spool == NULL || a->client_listen == NULL ||
	    a->cluster_id == NULL || a->database == NULL) {
		fprintf(stderr, "raftkv-node: --id, --address, --cluster, "
		                "--data, --spool, --client-listen, "
		                "--cluster-id and --database are required\n");
		usage();
		return -1;
	}
	for (unsigned i = 0; i < a->n_peers; i++)
		if (a->peers[i].id == a->id) {
			if (strcmp(a->peers[i].address, a->address) != 0) {
				fprintf(stderr,
				        "raftkv-node: --address %s differs "
				        "from node %llu's address %s in "
				        "--cluster\n",
				        a->address, a->id, a->peers[i].address);
				return -1;
			}
			if (a->peers[i].client[0] == '\0')
				snprintf(a->peers[i].client, ADDRESS_MAX, "%s",
				         a->client_listen);
			return 0;
		}
	fprintf(stderr, "raftkv-node: node %llu is not in --cluster\n", a->id);
	return -1;
}

static int split_host_port(const char *s, char *host, size_t size, int *port)
{
	const char *colon = strrchr(s, ':');
	unsigned long long p;

	if (colon == NULL || (size_t)(colon - s) >= size ||
	    parse_uint("address", colon + 1, 65535, &p) != 0)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	*port = (int)p;
	return 0;
}

/* ---- main -----------------------------------------------------------------
 */

static int setup(struct node *n, char *errmsg)
{
	struct raft_configuration conf;
	struct tap_options topts;
	struct sockaddr_in sa;
	char host[64];
	int port, rc;

	rc = io_mkdir_p(n->a.data, 0755, errmsg);
	if (rc != 0)
		return rc;
	tap_options_init(&topts);
	topts.sync_every_append = n->a.sync_every;
	if (!n->a.sync_every) {
		topts.sync_interval_ms = n->a.sync_interval_ms;
		topts.sync_bytes = 4u << 20;
	}
	topts.trailing = n->a.spool_trailing;
	topts.segment_size = n->a.spool_segment_size;
	if (n->a.reserve_max_bytes != UINT64_MAX)
		topts.reserve_max_bytes = n->a.reserve_max_bytes;
	if (n->a.reserve_max_age_ms != UINT64_MAX)
		topts.reserve_max_age_ms = n->a.reserve_max_age_ms;
	rc = tap_open(n->a.spool, n->a.cluster_id, n->a.database, &topts,
	              &n->tap, errmsg);
	if (rc != 0)
		return rc;
	if (kv_store_new(&n->kv.store) != 0)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	n->inner.version = 2;
	n->inner.data = &n->kv;
	n->inner.apply = fsm_apply;
	n->inner.snapshot = fsm_snapshot;
	n->inner.restore = fsm_restore;
	n->inner.snapshot_finalize = fsm_snapshot_finalize;
	rc = tap_raft_fsm_wrap(&n->inner, &n->raft, n->tap, &n->fsm);
	if (rc != 0)
		return ma_errorf(errmsg, rc, "cannot wrap the FSM");

	if (uv_loop_init(&n->loop) != 0)
		return ma_errorf(errmsg, MA_ERR_IO, "uv_loop_init failed");
	rc = raft_uv_tcp_init(&n->transport, &n->loop);
	if (rc != 0)
		return ma_errorf(errmsg, MA_ERR_IO, "raft_uv_tcp_init: %s",
		                 raft_strerror(rc));
	rc = raft_uv_init(&n->io, &n->loop, n->a.data, &n->transport);
	if (rc != 0)
		return ma_errorf(errmsg, MA_ERR_IO, "raft_uv_init %s: %s",
		                 n->a.data, n->io.errmsg);
	rc = raft_init(&n->raft, &n->io, &n->fsm, n->a.id, n->a.address);
	if (rc != 0)
		return ma_errorf(errmsg, MA_ERR_IO, "raft_init: %s",
		                 raft_errmsg(&n->raft));
	n->raft.data = n;

	/* Bootstrap on first start only: on a data directory that already
	 * holds state libraft answers RAFT_CANTBOOTSTRAP. */
	raft_configuration_init(&conf);
	for (unsigned i = 0; i < n->a.n_peers; i++) {
		rc = raft_configuration_add(&conf, n->a.peers[i].id,
		                            n->a.peers[i].address, RAFT_VOTER);
		if (rc != 0) {
			raft_configuration_close(&conf);
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "bad cluster configuration: %s",
			                 raft_strerror(rc));
		}
	}
	/* A node joining an existing cluster must not make a configuration
	 * of its own: it waits for the leader's (raft_add). */
	rc = n->a.join ? RAFT_CANTBOOTSTRAP : raft_bootstrap(&n->raft, &conf);
	raft_configuration_close(&conf);
	if (rc != 0 && rc != RAFT_CANTBOOTSTRAP)
		return ma_errorf(errmsg, MA_ERR_IO, "raft_bootstrap: %s",
		                 raft_errmsg(&n->raft));
	if (rc == 0)
		log_info("raftkv: node %llu bootstrapped the cluster "
		         "configuration",
		         n->a.id);
	raft_set_snapshot_threshold(&n->raft, n->a.snapshot_threshold);
	raft_set_snapshot_trailing(&n->raft, n->a.snapshot_trailing);
	raft_set_election_timeout(&n->raft, n->a.election_timeout);
	raft_set_heartbeat_timeout(&n->raft, n->a.election_timeout / 10);
	/* libraft 0.15: a follower busy taking its own snapshot refuses an
	 * InstallSnapshot (RAFT_BUSY) and the leader only retries after this
	 * timeout (30 s by default), ignoring the rejected heartbeats. */
	raft_set_install_snapshot_timeout(&n->raft,
	                                  n->a.install_snapshot_timeout);

	/* Client listener before raft starts, so a port clash fails fast. */
	if (split_host_port(n->a.client_listen, host, sizeof host, &port) !=
	        0 ||
	    uv_ip4_addr(host, port, &sa) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "--client-listen %s: want IPv4:PORT",
		                 n->a.client_listen);
	uv_tcp_init(&n->loop, &n->listener);
	n->listener.data = n;
	rc = uv_tcp_bind(&n->listener, (struct sockaddr *)&sa, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&n->listener, 64, accept_cb);
	if (rc != 0)
		return ma_errorf(errmsg, MA_ERR_IO, "listen on %s: %s",
		                 n->a.client_listen, uv_strerror(rc));

	rc = raft_start(&n->raft);
	if (rc != 0)
		return ma_errorf(errmsg, MA_ERR_IO, "raft_start: %s",
		                 raft_errmsg(&n->raft));
	rc = tap_raft_started(&n->fsm, errmsg);
	if (rc != 0)
		return rc;

	uv_signal_init(&n->loop, &n->sigint);
	uv_signal_init(&n->loop, &n->sigterm);
	n->sigint.data = n->sigterm.data = n;
	uv_signal_start(&n->sigint, signal_cb, SIGINT);
	uv_signal_start(&n->sigterm, signal_cb, SIGTERM);
	uv_timer_init(&n->loop, &n->sync_timer);
	n->sync_timer.data = n;
	uv_timer_start(&n->sync_timer, sync_timer_cb, 5, 5);
	return 0;
}

int main(int argc, char **argv)
{
	static struct node node; /* large; libuv handles must not move */
	char errmsg[MA_ERRMSG_SIZE];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (parse_args(argc, argv, &node.a) != 0)
		return 2;
	rc = setup(&node, errmsg);
	if (rc != 0) {
		log_error("raftkv-node %llu: %s (%s)", node.a.id, errmsg,
		          ma_strerror(rc));
		return 1;
	}
	log_info("raftkv: node %llu running: raft %s, clients %s, spool %s "
	         "(wal %" PRIu64 "..%" PRIu64 ")",
	         node.a.id, node.a.address, node.a.client_listen, node.a.spool,
	         tap_first_index(node.tap), tap_last_index(node.tap));
	uv_run(&node.loop, UV_RUN_DEFAULT);
	uv_loop_close(&node.loop);
	tap_raft_fsm_unwrap(&node.fsm);
	tap_close(node.tap);
	kv_store_free(node.kv.store);
	log_info("raftkv: node %llu stopped", node.a.id);
	return node.exit_code;
}
