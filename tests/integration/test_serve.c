/* serve over loopback QUIC: a spool built with tests/tools/spoolgen, the
 * server from agent/serve/serve.h, and a raw transport client decoding frames
 * with the protocol decoders and the snapshot framer. Every wait is
 * bounded by a libevent timer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "agent/serve/serve.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/log.h"
#include "proto/proto.h"
#include "snapshot/snapshot.h"
#include "tests/integration/test_transport_util.h"
#include "transport/transport.h"

#ifndef MA_TOP_BUILDDIR
#define MA_TOP_BUILDDIR "."
#endif

extern char **environ;

#define HEARTBEAT_MS 50
#define DB1_ENTRIES 2000
#define BIG_SIZE ((9u << 20) + 1) /* 10 chunks of 1 MiB */
#define RESUME_OFFSET 3000001u

static struct test_pki pki;
static char template_dir[64];
static char spoolgen[512];

/* ---- spoolgen ---- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* The payload spoolgen gives entry index (size 0: without --size). */
static size_t payload(uint64_t index, size_t size, char *buf, size_t cap)
{
	int n;

	if (size == 0)
		return (size_t)snprintf(buf, cap, "entry-%" PRIu64, index);
	n = snprintf(buf, cap, "entry-%" PRIu64 "-", index);
	for (size_t i = (size_t)n; i < size && i < cap; i++)
		buf[i] = (char)('a' + index % 26);
	return size < cap ? size : cap;
}

/* ---- fixture ---- */

struct fx {
	char dir[128];
	char db1[160], db2[160], db3[160];
	size_t max_unacked;     /* server option for the next start */
	uint64_t client_window; /* client per-stream window, 0: default */
	/* source protection for the next start, 0: the schema's defaults */
	uint32_t max_per_identity, lease_ms;
	/* grants for the next start, when set (else mirror-1: *, mirror-2:
	 * db2) */
	const struct serve_grant *grants;
	size_t ngrants;
	struct event_base *base;
	struct event *deadline;
	int timed_out;
	struct serve *sv;
	struct transport_client *cli[2];
	int cli_closed[2];
	pid_t child;
};

static void on_connected(struct transport_client *c, void *user)
{
	(void)c;
	(void)user;
}

static void on_closed(struct transport_client *c, int error, const char *msg,
                      void *user)
{
	int *closed = user;

	(void)c;
	(void)msg;
	*closed = error == 0 ? 1 : error;
}

static const struct transport_client_callbacks cli_cb = {on_connected,
                                                         on_closed};

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct fx *fx = arg;

	(void)fd;
	(void)what;
	fx->timed_out = 1;
	event_base_loopbreak(fx->base);
}

/* Runs the loop until cond(arg) holds or ms pass. */
static bool wait_until(struct fx *fx, bool (*cond)(void *), void *arg, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	fx->timed_out = 0;
	evtimer_add(fx->deadline, &tv);
	while (!cond(arg) && !fx->timed_out)
		event_base_loop(fx->base, EVLOOP_ONCE);
	evtimer_del(fx->deadline);
	return cond(arg);
}

static void start_server(struct fx *fx)
{
	static const char *const all[] = {"*"};
	static const char *const only2[] = {"db2"};
	struct serve_database dbs[3] = {
	    {"db1", fx->db1}, {"db2", fx->db2}, {"db3", fx->db3}};
	struct serve_grant grants[2] = {{"mirror-1", all, 1},
	                                {"mirror-2", only2, 1}};
	struct serve_options o;
	char errmsg[MA_ERRMSG_SIZE];

	serve_options_init(&o, NULL);
	o.listen_addr = "127.0.0.1";
	o.cert_file = test_pki_file(&pki, "server.pem");
	o.key_file = test_pki_file(&pki, "server.key");
	o.client_ca_file = test_pki_file(&pki, "ca.pem");
	o.databases = dbs;
	o.ndatabases = 3;
	o.max_unacked = fx->max_unacked;
	o.grants = fx->grants != NULL ? fx->grants : grants;
	o.ngrants = fx->grants != NULL ? fx->ngrants : 2;
	o.allow_any_identity = fx->grants != NULL;
	o.heartbeat_ms = HEARTBEAT_MS;
	o.chunk_size = 1u << 20; /* chunk counts below assume 1 MiB */
	if (fx->max_per_identity != 0)
		o.max_streams_per_identity = fx->max_per_identity;
	if (fx->lease_ms != 0)
		o.snapshot_lease_ms = fx->lease_ms;
	if (serve_new(fx->base, &o, &fx->sv, errmsg) != 0)
		fail_msg("serve_new: %s", errmsg);
}

static struct transport_client *client(struct fx *fx, int i, const char *name)
{
	struct transport_client_config cc;
	char errmsg[MA_ERRMSG_SIZE], cert[32], key[32];

	if (fx->cli[i] != NULL)
		return fx->cli[i];
	memset(&cc, 0, sizeof cc);
	cc.host = "127.0.0.1";
	cc.port = serve_port(fx->sv);
	cc.server_name = "localhost";
	cc.ca_file = test_pki_file(&pki, "ca.pem");
	snprintf(cert, sizeof cert, "%s.pem", name);
	snprintf(key, sizeof key, "%s.key", name);
	cc.cert_file = test_pki_file(&pki, cert);
	cc.key_file = test_pki_file(&pki, key);
	cc.handshake_timeout_ms = 5000;
	cc.tuning.max_stream_data = fx->client_window;
	if (transport_client_new(fx->base, &cc, &cli_cb, &fx->cli_closed[i],
	                         &fx->cli[i], errmsg) != 0)
		fail_msg("client: %s", errmsg);
	return fx->cli[i];
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof fx->dir, "/tmp/ma-test-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->db1, sizeof fx->db1, "%s/db1", fx->dir);
	snprintf(fx->db2, sizeof fx->db2, "%s/db2", fx->dir);
	snprintf(fx->db3, sizeof fx->db3, "%s/db3", fx->dir);
	if (sh("cp -a '%s/db1' '%s/db2' '%s/db3' '%s/'", template_dir,
	       template_dir, template_dir, fx->dir) != 0)
		return -1;
	fx->base = event_base_new();
	fx->deadline = evtimer_new(fx->base, on_deadline, fx);
	if (fx->base == NULL || fx->deadline == NULL)
		return -1;
	*state = fx;
	start_server(fx);
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->child > 0) {
		kill(fx->child, SIGKILL);
		waitpid(fx->child, NULL, 0);
	}
	for (int i = 0; i < 2; i++)
		transport_client_free(fx->cli[i]);
	serve_free(fx->sv);
	event_free(fx->deadline);
	event_base_free(fx->base);
	sh("rm -rf '%s'", fx->dir);
	free(fx);
	return 0;
}

/* ---- requests ---- */

struct req {
	struct fx *fx;
	struct transport_stream *s;
	int status;
	bool ended;
	int failed;
	bool cancelled;
	/* snapshot bodies are envelopes, everything else log or info
	 * messages */
	bool snapshot;
	struct proto_framer sf;
	struct proto_framer fr;
	/* snapshot results */
	uint64_t next_offset, chunks, first_offset;
	bool done, got_first;
	uint32_t crc, total_crc;
	uint8_t *data; /* received bytes (offset first_offset on) */
	size_t data_len, data_cap;
	/* info */
	bool have_info;
	struct proto_info info;
	/* log frames */
	bool got_start, got_x;
	uint64_t start_from;
	enum proto_error x;
	uint64_t x_first;
	char x_message[PROTO_MESSAGE_MAX + 1];
	uint64_t next_index, entries, heartbeats, hb_after_entries;
	uint64_t want_entries;
	uint64_t sized_from; /* entries above this have entry_size bytes */
	size_t entry_size;
	uint64_t last_commit, last_first;
	int64_t last_time;
	char bad[256];
};

static void mark_bad(struct req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void mark_bad(struct req *r, const char *fmt, ...)
{
	va_list ap;

	if (r->bad[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(r->bad, sizeof r->bad, fmt, ap);
	va_end(ap);
}

static void on_response(struct transport_stream *s, int status, void *user)
{
	(void)s;
	((struct req *)user)->status = status;
}

static void log_frame(struct req *r, const void *body, size_t len)
{
	struct proto_log_msg m;
	char errmsg[MA_ERRMSG_SIZE], want[8192];
	size_t wlen;

	if (r->got_x) {
		mark_bad(r, "frame after the x frame");
		return;
	}
	if (!r->got_start && r->status == 200 &&
	    proto_info_decode(body, len, &r->info, errmsg) == 0) {
		r->have_info = true;
		return;
	}
	if (proto_log_decode(body, len, PROTO_ENTRY_DATA_MAX, &m, errmsg) !=
	    0) {
		mark_bad(r, "decode: %s", errmsg);
		return;
	}
	switch (m.kind) {
	case PROTO_LOG_START:
		if (r->got_start)
			mark_bad(r, "second start frame");
		r->got_start = true;
		r->start_from = m.from_index;
		r->next_index = m.from_index;
		if (strncmp(m.id.database_id, "db", 2) != 0 ||
		    strlen(m.id.database_id) != 3)
			mark_bad(r, "start names %s", m.id.database_id);
		break;
	case PROTO_LOG_ENTRY:
		if (!r->got_start)
			mark_bad(r, "entry before start");
		if (m.index != r->next_index)
			mark_bad(r,
			         "entry %" PRIu64 " where %" PRIu64
			         " was expected",
			         m.index, r->next_index);
		wlen = payload(m.index,
		               m.index > r->sized_from ? r->entry_size : 0,
		               want, sizeof want);
		if (m.data_len != wlen || memcmp(m.data, want, wlen) != 0)
			mark_bad(r, "entry %" PRIu64 " has the wrong payload",
			         m.index);
		r->next_index = m.index + 1;
		r->entries++;
		r->hb_after_entries = 0;
		break;
	case PROTO_LOG_HEARTBEAT:
		if (!r->got_start)
			mark_bad(r, "heartbeat before start");
		r->heartbeats++;
		r->hb_after_entries++;
		r->last_commit = m.commit_index;
		r->last_first = m.first_index;
		r->last_time = m.source_time_ms;
		break;
	case PROTO_LOG_ERROR:
		r->got_x = true;
		r->x = m.error;
		r->x_first = m.first_index;
		snprintf(r->x_message, sizeof r->x_message, "%s", m.message);
		break;
	}
}

static void snapshot_bytes(struct req *r, const uint8_t *data, size_t len)
{
	while (len > 0) {
		struct snapshot_chunk env;
		char errmsg[MA_ERRMSG_SIZE];
		const void *body;
		size_t used = 0, blen;
		int rc;

		rc = proto_framer_feed(&r->sf, data, len, &used, &body, &blen,
		                       errmsg);
		data += used;
		len -= used;
		if (rc == 1) {
			struct proto_log_msg m;

			rc = proto_envelope_decode(body, blen, 0, &env, errmsg);
			/* The source says why it stops (a corrupt file). */
			if (rc != 0 &&
			    proto_log_decode(body, blen, 0, &m, errmsg) == 0 &&
			    m.kind == PROTO_LOG_ERROR) {
				r->got_x = true;
				r->x = m.error;
				snprintf(r->x_message, sizeof r->x_message,
				         "%s", m.message);
				continue;
			}
		} else if (rc == 0) {
			continue;
		}
		if (rc < 0) {
			mark_bad(r, "framer: %s", errmsg);
			return;
		}
		if (r->done) {
			mark_bad(r, "envelope after done");
			return;
		}
		if (!r->got_first) {
			r->got_first = true;
			r->first_offset = env.offset;
			r->next_offset = env.offset;
		}
		if (env.offset != r->next_offset)
			mark_bad(r,
			         "offset %" PRIu64 " where %" PRIu64
			         " was expected",
			         env.offset, r->next_offset);
		if (env.done) {
			r->done = true;
			r->total_crc = env.id.crc32c;
			if (env.offset != env.id.size)
				mark_bad(r, "done at %" PRIu64 " of %" PRIu64,
				         env.offset, env.id.size);
			continue;
		}
		if (crc32c(env.data, env.data_len) != env.crc32c)
			mark_bad(r, "chunk CRC wrong at %" PRIu64, env.offset);
		r->crc = crc32c_append(r->crc, env.data, env.data_len);
		r->chunks++;
		r->next_offset += env.data_len;
		if (r->data_len + env.data_len > r->data_cap) {
			size_t cap = (r->data_len + env.data_len) * 2;
			uint8_t *p = realloc(r->data, cap);

			assert_non_null(p);
			r->data = p;
			r->data_cap = cap;
		}
		if (env.data_len > 0)
			memcpy(r->data + r->data_len, env.data, env.data_len);
		r->data_len += env.data_len;
	}
}

static void on_body(struct transport_stream *s, const uint8_t *data, size_t len,
                    void *user)
{
	struct req *r = user;

	(void)s;
	if (r->snapshot && r->status == 200) {
		snapshot_bytes(r, data, len);
		return;
	}
	while (len > 0) {
		const void *body;
		size_t used = 0, blen;
		char errmsg[MA_ERRMSG_SIZE];
		int rc = proto_framer_feed(&r->fr, data, len, &used, &body,
		                           &blen, errmsg);

		data += used;
		len -= used;
		if (rc < 0) {
			mark_bad(r, "frame: %s", errmsg);
			return;
		}
		if (rc == 1)
			log_frame(r, body, blen);
	}
}

static void on_end(struct transport_stream *s, void *user)
{
	struct req *r = user;

	(void)s;
	r->ended = true;
	r->s = NULL;
}

static void on_error(struct transport_stream *s, int code, const char *msg,
                     void *user)
{
	struct req *r = user;

	(void)s;
	(void)msg;
	r->failed = code != 0 ? code : -1;
	r->s = NULL;
}

static const struct transport_stream_callbacks st_cb = {on_response, on_body,
                                                        on_end, on_error};

static struct req *get(struct fx *fx, int client_no, const char *path,
                       bool snapshot)
{
	struct req *r = calloc(1, sizeof *r);
	struct transport_client *c =
	    client(fx, client_no, client_no == 0 ? "mirror-1" : "mirror-2");

	assert_non_null(r);
	r->fx = fx;
	r->snapshot = snapshot;
	r->sized_from = UINT64_MAX;
	assert_int_equal(
	    proto_framer_init(&r->sf, SNAPSHOT_DATA_MAX_DEFAULT +
	                                  PROTO_ENVELOPE_OVERHEAD_MAX),
	    0);
	assert_int_equal(proto_framer_init(&r->fr, PROTO_ENTRY_DATA_MAX +
	                                               PROTO_FRAME_OVERHEAD),
	                 0);
	assert_int_equal(transport_client_request(c, path, &st_cb, r, &r->s),
	                 0);
	return r;
}

static void req_free(struct req *r)
{
	if (r->s != NULL)
		transport_stream_cancel(r->s);
	proto_framer_free(&r->sf);
	proto_framer_free(&r->fr);
	free(r->data);
	free(r);
}

static bool req_finished(void *arg)
{
	struct req *r = arg;

	return r->ended || r->failed != 0;
}

static void expect_error(struct fx *fx, int client_no, const char *path,
                         int status, enum proto_error err)
{
	struct req *r = get(fx, client_no, path, false);

	assert_true(wait_until(fx, req_finished, r, 10000));
	if (r->bad[0] != '\0')
		fail_msg("%s: %s", path, r->bad);
	if (r->status != status || !r->got_x || r->x != err)
		fail_msg("%s: status %d x %d (%s), want %d %s", path, r->status,
		         r->got_x ? (int)r->x : -1, r->x_message, status,
		         proto_error_name(err));
	assert_true(r->ended);
	req_free(r);
}

/* ---- tests ---- */

static void test_info(void **state)
{
	struct fx *fx = *state;
	struct req *r = get(fx, 0, "/v1/db/db1/info", false);
	int64_t now;

	assert_true(wait_until(fx, req_finished, r, 10000));
	assert_string_equal(r->bad, "");
	assert_int_equal(r->status, 200);
	assert_true(r->have_info);
	assert_string_equal(r->info.id.database_id, "db1");
	assert_int_equal(strlen(r->info.id.cluster_id), 36);
	assert_int_equal(r->info.first_index, 1);
	assert_int_equal(r->info.commit_index, DB1_ENTRIES);
	assert_int_equal(r->info.commit_term, 2);
	assert_true(r->info.has_snapshot);
	assert_int_equal(r->info.snapshot_index, 100);
	assert_int_equal(r->info.snapshot_term, 2);
	assert_int_equal(r->info.snapshot_size, BIG_SIZE);
	now = (int64_t)clock_wall_ms();
	assert_true(r->info.source_time_ms <= now &&
	            r->info.source_time_ms > now - 10000);
	req_free(r);

	/* db2: log 101..150 after a 1-byte snapshot at 100. */
	r = get(fx, 0, "/v1/db/db2/info", false);
	assert_true(wait_until(fx, req_finished, r, 10000));
	assert_int_equal(r->status, 200);
	assert_true(r->have_info);
	assert_int_equal(r->info.first_index, 101);
	assert_int_equal(r->info.commit_index, 150);
	assert_int_equal(r->info.snapshot_size, 1);
	req_free(r);
}

static void test_snapshot_and_resume(void **state)
{
	struct fx *fx = *state;
	struct req *info = get(fx, 0, "/v1/db/db1/info", false);
	struct req *r, *res;
	char path[128];

	assert_true(wait_until(fx, req_finished, info, 10000));
	r = get(fx, 0, "/v1/db/db1/snapshot?index=100&term=2&offset=0", true);
	assert_true(wait_until(fx, req_finished, r, 30000));
	assert_string_equal(r->bad, "");
	assert_int_equal(r->status, 200);
	assert_true(r->ended);
	assert_true(r->done);
	assert_int_equal(r->data_len, BIG_SIZE);
	assert_int_equal(r->chunks, 10);
	assert_int_equal(r->crc, r->total_crc);
	assert_int_equal(r->crc, info->info.snapshot_crc32c);

	/* Resume from an offset in the middle of a chunk. */
	snprintf(path, sizeof path,
	         "/v1/db/db1/snapshot?index=100&term=2&offset=%u",
	         RESUME_OFFSET);
	res = get(fx, 0, path, true);
	assert_true(wait_until(fx, req_finished, res, 30000));
	assert_string_equal(res->bad, "");
	assert_int_equal(res->status, 200);
	assert_true(res->done);
	assert_int_equal(res->first_offset, RESUME_OFFSET);
	assert_int_equal(res->data_len, BIG_SIZE - RESUME_OFFSET);
	assert_memory_equal(res->data, r->data + RESUME_OFFSET, res->data_len);
	assert_int_equal(res->total_crc, r->total_crc);
	req_free(res);

	/* Resume at the very end: only the done envelope. */
	snprintf(path, sizeof path,
	         "/v1/db/db1/snapshot?index=100&term=2&offset=%u", BIG_SIZE);
	res = get(fx, 0, path, true);
	assert_true(wait_until(fx, req_finished, res, 10000));
	assert_int_equal(res->status, 200);
	assert_true(res->done);
	assert_int_equal(res->chunks, 0);
	req_free(res);

	/* The empty snapshot: one done envelope. */
	res = get(fx, 0, "/v1/db/db1/snapshot?index=60&term=2", true);
	assert_true(wait_until(fx, req_finished, res, 10000));
	assert_string_equal(res->bad, "");
	assert_int_equal(res->status, 200);
	assert_true(res->done);
	assert_int_equal(res->total_crc, 0);
	req_free(res);

	req_free(r);
	req_free(info);
	expect_error(fx, 0, "/v1/db/db1/snapshot?index=99&term=2", 404,
	             PROTO_ERROR_NOT_FOUND);
	expect_error(fx, 0, "/v1/db/db1/snapshot?index=100&term=3", 404,
	             PROTO_ERROR_NOT_FOUND);
	snprintf(path, sizeof path,
	         "/v1/db/db1/snapshot?index=100&term=2&offset=%u",
	         BIG_SIZE + 1);
	expect_error(fx, 0, path, 400, PROTO_ERROR_BAD_REQUEST);
}

struct log_goal {
	struct req *r;
	uint64_t entries, heartbeats_after;
	bool x;
};

static bool log_goal_met(void *arg)
{
	struct log_goal *g = arg;

	if (g->r->failed != 0 || g->r->ended || g->r->bad[0] != '\0')
		return true;
	if (g->x)
		return g->r->got_x;
	return g->r->entries >= g->entries &&
	       g->r->hb_after_entries >= g->heartbeats_after;
}

static void wait_log(struct fx *fx, struct req *r, uint64_t entries,
                     uint64_t heartbeats_after, int ms)
{
	struct log_goal g = {r, entries, heartbeats_after, false};

	if (!wait_until(fx, log_goal_met, &g, ms))
		fail_msg("timed out: %" PRIu64 " entries, %" PRIu64
		         " heartbeats (want %" PRIu64 ", %" PRIu64 ")",
		         r->entries, r->hb_after_entries, entries,
		         heartbeats_after);
	if (r->bad[0] != '\0')
		fail_msg("%s", r->bad);
	assert_int_equal(r->failed, 0);
	assert_false(r->got_x);
	assert_int_equal(r->status, 200);
}

static pid_t spawn_spoolgen(const char *dir, const char *count,
                            const char *term, const char *rate)
{
	char a_append[] = "append", a_count[] = "--count", a_term[] = "--term",
	     a_rate[] = "--rate-per-s";
	char *argv[] = {spoolgen,      a_append, (char *)dir,  a_count,
	                (char *)count, a_term,   (char *)term, a_rate,
	                (char *)rate,  NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
	assert_int_equal(posix_spawn(&pid, spoolgen, &fa, NULL, argv, environ),
	                 0);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static void reap(struct fx *fx)
{
	int status;

	assert_int_equal(waitpid(fx->child, &status, 0), fx->child);
	fx->child = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_log_follow(void **state)
{
	struct fx *fx = *state;
	struct req *r = get(fx, 0, "/v1/db/db1/log?from=1&prev_term=0", false);

	wait_log(fx, r, DB1_ENTRIES, 2, 20000);
	assert_int_equal(r->start_from, 1);
	assert_int_equal(r->next_index, DB1_ENTRIES + 1);
	assert_int_equal(r->last_commit, DB1_ENTRIES);
	assert_int_equal(r->last_first, 1);
	assert_true(r->last_time > 0);

	/* New entries written by another process arrive in order. */
	fx->child = spawn_spoolgen(fx->db1, "500", "3", "5000");
	wait_log(fx, r, DB1_ENTRIES + 500, 1, 20000);
	reap(fx);
	assert_int_equal(r->last_commit, DB1_ENTRIES + 500);
	req_free(r);
}

static void test_log_checks(void **state)
{
	struct fx *fx = *state;
	struct log_goal g = {NULL, 0, 0, true};
	struct req *r;
	uint64_t first;

	/* Wrong prev_term. */
	r = get(fx, 0, "/v1/db/db1/log?from=1001&prev_term=7", false);
	g.r = r;
	assert_true(wait_until(fx, log_goal_met, &g, 10000));
	assert_string_equal(r->bad, "");
	assert_true(r->got_start);
	assert_true(r->got_x);
	assert_int_equal(r->x, PROTO_ERROR_DIVERGED);
	assert_int_equal(r->entries, 0);
	assert_true(wait_until(fx, req_finished, r, 5000));
	assert_true(r->ended);
	req_free(r);

	/* Right prev_term in the middle of the log. */
	r = get(fx, 0, "/v1/db/db1/log?from=1001&prev_term=2", false);
	wait_log(fx, r, DB1_ENTRIES - 1000, 1, 10000);
	req_free(r);

	/* Compaction (spoolgen used 64 KiB segments). */
	assert_int_equal(
	    sh("'%s' compact '%s' --before 1500 >/dev/null", spoolgen, fx->db1),
	    0);
	r = get(fx, 0, "/v1/db/db1/log?from=5&prev_term=2", false);
	g.r = r;
	assert_true(wait_until(fx, log_goal_met, &g, 10000));
	assert_string_equal(r->bad, "");
	assert_true(r->got_x);
	assert_int_equal(r->x, PROTO_ERROR_COMPACTED);
	first = r->x_first;
	assert_true(first > 5 && first <= 1500);
	req_free(r);

	/* From the first retained index: prev is gone and no snapshot is
	 * at first - 1. */
	{
		char path[128];

		snprintf(path, sizeof path,
		         "/v1/db/db1/log?from=%" PRIu64 "&prev_term=2", first);
		r = get(fx, 0, path, false);
		g.r = r;
		assert_true(wait_until(fx, log_goal_met, &g, 10000));
		assert_int_equal(r->x, PROTO_ERROR_COMPACTED);
		req_free(r);
		snprintf(path, sizeof path,
		         "/v1/db/db1/log?from=%" PRIu64 "&prev_term=2",
		         first + 1);
		r = get(fx, 0, path, false);
		wait_log(fx, r, DB1_ENTRIES - first, 1, 10000);
		req_free(r);
	}

	/* db2: the log starts at 101 after a snapshot at 100 (term 2). */
	r = get(fx, 0, "/v1/db/db2/log?from=101&prev_term=2", false);
	wait_log(fx, r, 50, 1, 10000);
	req_free(r);
	r = get(fx, 0, "/v1/db/db2/log?from=101&prev_term=1", false);
	g.r = r;
	assert_true(wait_until(fx, log_goal_met, &g, 10000));
	assert_int_equal(r->x, PROTO_ERROR_DIVERGED);
	req_free(r);
	r = get(fx, 0, "/v1/db/db2/log?from=100&prev_term=2", false);
	g.r = r;
	assert_true(wait_until(fx, log_goal_met, &g, 10000));
	assert_int_equal(r->x, PROTO_ERROR_COMPACTED);
	assert_int_equal(r->x_first, 101);
	req_free(r);
}

static void test_log_source_behind(void **state)
{
	struct fx *fx = *state;
	struct req *r =
	    get(fx, 0, "/v1/db/db1/log?from=2101&prev_term=3", false);

	/* Heartbeats only while the source is behind. */
	wait_log(fx, r, 0, 3, 10000);
	assert_true(r->got_start);
	assert_int_equal(r->entries, 0);
	assert_int_equal(r->last_commit, DB1_ENTRIES);
	fx->child = spawn_spoolgen(fx->db1, "200", "3", "100000");
	wait_log(fx, r, 100, 0, 20000);
	reap(fx);
	assert_int_equal(r->start_from, 2101);
	assert_int_equal(r->next_index, 2201);
	req_free(r);

	/* Behind, then the source catches up with another term: diverged. */
	r = get(fx, 0, "/v1/db/db1/log?from=2302&prev_term=3", false);
	wait_log(fx, r, 0, 1, 10000);
	fx->child = spawn_spoolgen(fx->db1, "200", "4", "100000");
	{
		struct log_goal g = {r, 0, 0, true};

		assert_true(wait_until(fx, log_goal_met, &g, 20000));
	}
	reap(fx);
	assert_int_equal(r->x, PROTO_ERROR_DIVERGED);
	req_free(r);
}

static void test_errors(void **state)
{
	struct fx *fx = *state;
	static const char *const bad[] = {
	    "/v1/db/db1/log?from=1",
	    "/v1/db/db1/log?from=1&prev_term=x",
	    "/v1/db/db1/log?from=1&prev_term=",
	    "/v1/db/db1/log?from=0&prev_term=0",
	    "/v1/db/db1/log?from=1&prev_term=0&from=2",
	    "/v1/db/db1/log?from=1&prev_term=0&extra=1",
	    "/v1/db/db1/log?from=18446744073709551616&prev_term=0",
	    "/v1/db/db1/log?from=-1&prev_term=0",
	    "/v1/db/db1/log?from=1&prev_term=0&",
	    "/v1/db/db1/log",
	    "/v1/db/db1/info?x=1",
	    "/v1/db/db1/snapshot?term=2",
	    "/v1/db/db1/snapshot?index=1%30&term=2",
	    "/v1/db/db1/nothing",
	    "/v1/db/db1/",
	    "/v1/db/db1",
	    "/v1/db//info",
	    "/v1/db/d%31/info",
	    "/v1/db/../info",
	    "/v2/db/db1/info",
	    "/",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_error(fx, 0, bad[i], 400, PROTO_ERROR_BAD_REQUEST);
	/* Leading zeros and the largest value are numbers like any other. */
	expect_error(fx, 0,
	             "/v1/db/db1/snapshot?index=18446744073709551615&term=02",
	             404, PROTO_ERROR_NOT_FOUND);
	expect_error(fx, 0, "/v1/db/nosuch/info", 404, PROTO_ERROR_NOT_FOUND);
	expect_error(fx, 1, "/v1/db/db1/info", 403, PROTO_ERROR_FORBIDDEN);
	expect_error(fx, 1, "/v1/db/nosuch/info", 403, PROTO_ERROR_FORBIDDEN);
	expect_error(fx, 1, "/v1/db/db1/log?from=1&prev_term=0", 403,
	             PROTO_ERROR_FORBIDDEN);
	{
		struct req *r = get(fx, 1, "/v1/db/db2/info", false);

		assert_true(wait_until(fx, req_finished, r, 10000));
		assert_int_equal(r->status, 200);
		assert_true(r->have_info);
		req_free(r);
	}
}

static int info_status(struct fx *fx, int client_no, const char *db)
{
	char path[64];
	struct req *r;
	int status;

	snprintf(path, sizeof path, "/v1/db/%s/info", db);
	r = get(fx, client_no, path, false);
	assert_true(wait_until(fx, req_finished, r, 10000));
	status = r->status;
	if (status == 200 && !r->have_info)
		fail_msg("%s: 200 without an info body", path);
	if (status != 200 && (!r->got_x || r->x != PROTO_ERROR_FORBIDDEN))
		fail_msg("%s: status %d without a forbidden x frame", path,
		         status);
	req_free(r);
	return status;
}

/* The access rule through real requests: serve applies
 * config_access_grant_allows, "*" as an identity (tests only) admits any
 * client to the databases it names and nothing else. */
static void test_access_rule(void **state)
{
	static const char *const db1[] = {"db1"};
	static const char *const db3[] = {"db3"};
	static const struct serve_grant grants[] = {{"mirror-1", db1, 1},
	                                            {"*", db3, 1}};
	struct fx *fx = *state;
	struct serve_options o;
	struct serve *sv = NULL;
	struct serve_database dbs[1] = {{"db1", fx->db1}};
	char errmsg[MA_ERRMSG_SIZE];

	serve_free(fx->sv);
	fx->grants = grants;
	fx->ngrants = 2;
	start_server(fx);
	assert_int_equal(info_status(fx, 0, "db1"), 200);
	assert_int_equal(info_status(fx, 0, "db3"), 200);
	assert_int_equal(info_status(fx, 0, "db2"), 403);
	assert_int_equal(info_status(fx, 1, "db3"), 200);
	assert_int_equal(info_status(fx, 1, "db1"), 403);
	assert_int_equal(info_status(fx, 1, "db2"), 403);

	/* Outside tests a grant for any client is refused at start. */
	serve_options_init(&o, NULL);
	o.listen_addr = "127.0.0.1";
	o.cert_file = test_pki_file(&pki, "server.pem");
	o.key_file = test_pki_file(&pki, "server.key");
	o.client_ca_file = test_pki_file(&pki, "ca.pem");
	o.databases = dbs;
	o.ndatabases = 1;
	o.grants = &grants[1];
	o.ngrants = 1;
	assert_int_equal(serve_new(fx->base, &o, &sv, errmsg), MA_ERR_CONFIG);
	assert_null(sv);
	assert_string_equal(errmsg, "grant for identity '*' (any client) is "
	                            "only allowed in tests");
}

/* serve authorizes on the whole peer identity: a grant naming the first
 * 127 bytes of a 255-byte identity (tests/certs: mirror-long) does not
 * admit it, a grant naming all of it does. Before, serve cut the identity
 * to 127 bytes, so the longer identity passed for the granted one. */
static void test_access_whole_identity(void **state)
{
	static const char *const db1[] = {"db1"};
	static char longid[256], prefix[128];
	struct serve_grant grant = {prefix, db1, 1};
	struct fx *fx = *state;

	snprintf(longid, sizeof longid, "spiffe://mirror-agent.test/%0228d", 0);
	for (char *p = longid + 27; *p != '\0'; p++)
		*p = 'a';
	memcpy(prefix, longid, 127);
	prefix[127] = '\0';
	for (int round = 0; round < 2; round++) {
		grant.identity = round == 0 ? prefix : longid;
		serve_free(fx->sv);
		transport_client_free(fx->cli[1]);
		fx->cli[1] = NULL;
		fx->grants = &grant;
		fx->ngrants = 1;
		start_server(fx);
		(void)client(fx, 1, "mirror-long");
		assert_int_equal(info_status(fx, 1, "db1"),
		                 round == 0 ? 403 : 200);
	}
	transport_client_free(fx->cli[1]);
	fx->cli[1] = NULL;
	fx->grants = NULL;
}

struct all_goal {
	struct req **r;
	size_t n;
};

static bool all_done(void *arg)
{
	struct all_goal *g = arg;

	for (size_t i = 0; i < g->n; i++) {
		struct req *r = g->r[i];

		if (r->failed != 0 || r->bad[0] != '\0')
			return true;
		if (r->snapshot ? !r->ended
		                : r->entries < r->want_entries ||
		                      r->hb_after_entries < 1)
			return false;
	}
	return true;
}

static bool three_streams(void *arg)
{
	return serve_streams(arg) == 3;
}

static void test_concurrent_streams(void **state)
{
	struct fx *fx = *state;
	struct req *r[5];
	struct all_goal g = {r, 5};

	r[0] = get(fx, 0, "/v1/db/db1/log?from=1&prev_term=0", false);
	r[1] = get(fx, 0, "/v1/db/db2/log?from=101&prev_term=2", false);
	r[2] = get(fx, 0, "/v1/db/db1/snapshot?index=100&term=2", true);
	r[3] = get(fx, 0, "/v1/db/db1/log?from=1&prev_term=0", false);
	r[4] =
	    get(fx, 0, "/v1/db/db1/snapshot?index=100&term=2&offset=5", true);
	r[0]->want_entries = r[3]->want_entries = DB1_ENTRIES;
	r[1]->want_entries = 50;
	assert_true(wait_until(fx, all_done, &g, 30000));
	for (int i = 0; i < 5; i++) {
		if (r[i]->bad[0] != '\0')
			fail_msg("stream %d: %s", i, r[i]->bad);
		assert_int_equal(r[i]->failed, 0);
		assert_int_equal(r[i]->status, 200);
	}
	assert_true(r[2]->done && r[4]->done);
	assert_int_equal(r[2]->data_len, BIG_SIZE);
	assert_int_equal(r[4]->data_len, BIG_SIZE - 5);
	/* The snapshot streams close once their ends are acknowledged. */
	assert_true(wait_until(fx, three_streams, fx->sv, 10000));
	for (int i = 0; i < 5; i++)
		req_free(r[i]);
}

static bool no_streams(void *arg)
{
	return serve_streams(arg) == 0;
}

static void test_cancel_releases(void **state)
{
	struct fx *fx = *state;
	struct req *a = get(fx, 0, "/v1/db/db1/log?from=1&prev_term=0", false);
	struct req *b =
	    get(fx, 0, "/v1/db/db1/snapshot?index=100&term=2", true);

	wait_log(fx, a, 10, 0, 10000);
	req_free(a);
	req_free(b);
	assert_true(wait_until(fx, no_streams, fx->sv, 10000));
}

/* What serve holds for each kind of stream, sampled while a reader is
 * stalled. */
struct hold {
	struct fx *fx;
	struct event *tick;
	size_t pending[2], unacked[2]; /* largest seen: log, snapshot */
	size_t last_pending[2], last_unacked[2];
	unsigned samples;
};

static void sample_hold(evutil_socket_t fd, short what, void *arg)
{
	struct hold *h = arg;
	struct serve_stream_stat ss;

	(void)fd;
	(void)what;
	for (unsigned i = 0; serve_stream_stat(h->fx->sv, i, &ss); i++) {
		int k;

		if (ss.path == NULL)
			continue;
		k = strstr(ss.path, "/snapshot?") != NULL;
		if (ss.pending > h->pending[k])
			h->pending[k] = ss.pending;
		if (ss.unacked > h->unacked[k])
			h->unacked[k] = ss.unacked;
		h->last_pending[k] = ss.pending;
		h->last_unacked[k] = ss.unacked;
	}
	h->samples++;
}

/* A stalled client: serve keeps what it holds per stream within its own
 * limits (the transport's max_unacked, one log batch or one chunk
 * envelope not yet accepted) instead of reading the spool ahead of the
 * reader, then everything arrives in order once the client reads again.
 * QUIC's window alone would bound what the client receives, not what
 * serve buffers. */
static void test_backpressure(void **state)
{
	struct fx *fx = *state;
	struct req *log, *snap;
	struct timeval tv = {0, 300000}, every = {0, 2000};
	struct all_goal g;
	struct req *both[2];
	struct hold h;
	/* One entry frame: 4000 bytes of data plus its envelope. */
	const size_t log_bound =
	    SERVE_LOG_BATCH_DEFAULT + 4000 + PROTO_FRAME_OVERHEAD;
	const size_t snap_bound = (1u << 20) + PROTO_ENVELOPE_OVERHEAD_MAX;

	serve_free(fx->sv);
	fx->max_unacked = 64 * 1024;
	fx->client_window = 256 * 1024;
	start_server(fx);
	assert_int_equal(sh("'%s' append '%s' --count 2000 --term 2 --size "
	                    "4000 >/dev/null",
	                    spoolgen, fx->db1),
	                 0);
	memset(&h, 0, sizeof h);
	h.fx = fx;
	h.tick = event_new(fx->base, -1, EV_PERSIST, sample_hold, &h);
	assert_non_null(h.tick);
	assert_int_equal(evtimer_add(h.tick, &every), 0);
	log = get(fx, 0, "/v1/db/db1/log?from=1&prev_term=0", false);
	log->sized_from = DB1_ENTRIES;
	log->entry_size = 4000;
	log->want_entries = DB1_ENTRIES + 2000;
	snap = get(fx, 0, "/v1/db/db1/snapshot?index=100&term=2", true);
	transport_stream_pause(log->s, 1);
	transport_stream_pause(snap->s, 1);
	/* Let the server run into the caps, sampling every 2 ms. */
	event_base_loopexit(fx->base, &tv);
	event_base_dispatch(fx->base);
	event_free(h.tick);
	printf("# stalled: %u samples; log pending <= %zu unacked <= %zu; "
	       "snapshot pending <= %zu unacked <= %zu\n",
	       h.samples, h.pending[0], h.unacked[0], h.pending[1],
	       h.unacked[1]);
	assert_true(h.samples >= 20);
	assert_true(log->entries < DB1_ENTRIES + 2000);
	assert_false(snap->ended);
	/* serve's limits held at every sample... */
	assert_true(h.unacked[0] <= fx->max_unacked);
	assert_true(h.unacked[1] <= fx->max_unacked);
	assert_true(h.pending[0] <= log_bound);
	assert_true(h.pending[1] <= snap_bound);
	/* ...while it was being pushed back: at the end both streams hold
	 * bytes the transport has not sent and bytes it has not taken. */
	assert_true(h.last_unacked[0] > 0 && h.last_pending[0] > 0);
	assert_true(h.last_unacked[1] > 0 && h.last_pending[1] > 0);
	transport_stream_pause(log->s, 0);
	transport_stream_pause(snap->s, 0);
	both[0] = log;
	both[1] = snap;
	g.r = both;
	g.n = 2;
	assert_true(wait_until(fx, all_done, &g, 30000));
	assert_string_equal(log->bad, "");
	assert_string_equal(snap->bad, "");
	assert_int_equal(log->next_index, DB1_ENTRIES + 2001);
	assert_true(snap->done);
	assert_int_equal(snap->data_len, BIG_SIZE);
	assert_int_equal(snap->crc, snap->total_crc);
	req_free(log);
	req_free(snap);
}

/* The snapshot file changes under a transfer: no done envelope is sent;
 * the stream ends with an `x` frame saying the snapshot is corrupt on the
 * source (issue 8: a reset told the mirror nothing). The pin keeps
 * retention away meanwhile. */
static void test_snapshot_changed_and_pinned(void **state)
{
	struct fx *fx = *state;
	struct timeval tv = {0, 200000};
	struct snapshot_store *store;
	char errmsg[MA_ERRMSG_SIZE], path[256];
	size_t removed = 0;
	struct req *r;
	FILE *f;

	serve_free(fx->sv);
	fx->max_unacked = 64 * 1024;
	fx->client_window = 256 * 1024;
	start_server(fx);
	r = get(fx, 0, "/v1/db/db1/snapshot?index=100&term=2", true);
	transport_stream_pause(r->s, 1);
	event_base_loopexit(fx->base, &tv);
	event_base_dispatch(fx->base);
	assert_int_equal(r->status, 200);
	assert_false(r->ended);

	/* Retention in "another process" (another store handle) skips the
	 * pinned snapshot but removes the unpinned empty one. */
	snprintf(path, sizeof path, "%s/snapshots", fx->db1);
	assert_int_equal(snapshot_store_open(path, &store, errmsg), 0);
	assert_int_equal(snapshot_store_retain(store, 0, &removed, errmsg), 0);
	assert_int_equal(removed, 1);
	snprintf(path, sizeof path, "%s/snapshots/100-2.snapshot", fx->db1);
	assert_int_equal(access(path, F_OK), 0);

	/* Same size, other bytes near the end. */
	f = fopen(path, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, BIG_SIZE - 10, SEEK_SET), 0);
	assert_int_equal(fwrite("XXXXXXXXXX", 1, 10, f), 10);
	assert_int_equal(fclose(f), 0);
	transport_stream_pause(r->s, 0);
	assert_true(wait_until(fx, req_finished, r, 30000));
	assert_true(r->ended);
	assert_false(r->done);
	assert_true(r->got_x);
	assert_int_equal(r->x, PROTO_ERROR_CORRUPT);
	if (strstr(r->x_message, "snapshot 100-2 is corrupt on the source: "
	                         "CRC32C of the file is 0x") == NULL ||
	    strstr(r->x_message, "the file changed or is damaged") == NULL)
		fail_msg("x frame: '%s'", r->x_message);
	assert_string_equal(r->bad, "");
	req_free(r);
	assert_true(wait_until(fx, no_streams, fx->sv, 10000));
	/* Unpinned now: retention may remove it. */
	assert_int_equal(snapshot_store_retain(store, 0, &removed, errmsg), 0);
	assert_int_equal(removed, 1);
	snapshot_store_close(store);
}

struct many {
	struct req **r;
	size_t n;
};

static bool all_answered(void *arg)
{
	struct many *m = arg;

	for (size_t i = 0; i < m->n; i++) {
		if (m->r[i]->status == 0 && m->r[i]->failed == 0)
			return false;
	}
	return true;
}

static bool all_failed_or_refused(void *arg)
{
	struct many *m = arg;

	for (size_t i = 0; i < m->n; i++) {
		if (m->r[i]->status == 200 && m->r[i]->failed == 0)
			return false;
	}
	return true;
}

/* Counts the answers: 200s, and 503 unavailable refusals whose message
 * names `limit`. */
static void count_answers(struct req **r, size_t n, const char *limit,
                          unsigned *ok, unsigned *refused)
{
	*ok = *refused = 0;
	for (size_t i = 0; i < n; i++) {
		if (r[i]->status == 200) {
			(*ok)++;
			continue;
		}
		assert_true(wait_until(r[i]->fx, req_finished, r[i], 5000));
		if (r[i]->status != 503 || !r[i]->got_x ||
		    r[i]->x != PROTO_ERROR_UNAVAILABLE ||
		    strstr(r[i]->x_message, limit) == NULL)
			fail_msg("request %zu: status %d x %s (%s), want 200 "
			         "or 503 unavailable naming %s",
			         i, r[i]->status,
			         r[i]->got_x ? proto_error_name(r[i]->x) : "-",
			         r[i]->x_message, limit);
		(*refused)++;
	}
}

/* Source protection (issue 9): a mirror holding 100 unread snapshot
 * streams gets [serve] max_snapshot_streams_per_identity (8) of them, the
 * rest are refused with 503; the 8 pins lapse once the streams make no
 * progress for snapshot_lease and retention then removes the snapshot.
 * Another identity is served meanwhile. */
static void test_unread_snapshot_streams(void **state)
{
	enum { N = 100, CAP = 8, LEASE_MS = 1500 };
	struct fx *fx = *state;
	struct snapshot_store *store;
	char errmsg[MA_ERRMSG_SIZE], path[256];
	struct req *r[N];
	struct many m = {r, N};
	size_t removed = 0;
	unsigned ok, refused;
	uint64_t t0;

	serve_free(fx->sv);
	fx->max_unacked = 64 * 1024;
	fx->client_window = 128 * 1024;
	fx->lease_ms = LEASE_MS;
	start_server(fx);
	for (int i = 0; i < N; i++) {
		r[i] = get(fx, 0, "/v1/db/db1/snapshot?index=100&term=2", true);
		transport_stream_pause(r[i]->s, 1);
	}
	assert_true(wait_until(fx, all_answered, &m, 20000));
	count_answers(r, N, "max_snapshot_streams_per_identity", &ok, &refused);
	printf("# %u of %d unread snapshot streams admitted, %u refused\n", ok,
	       N, refused);
	assert_int_equal(ok, CAP);
	assert_int_equal(refused, N - CAP);
	/* Another identity is not affected by mirror-1's streams. */
	assert_int_equal(info_status(fx, 1, "db2"), 200);

	/* While the leases run, retention (another store handle) keeps the
	 * pinned snapshot and removes only the unpinned empty one. */
	snprintf(path, sizeof path, "%s/snapshots", fx->db1);
	assert_int_equal(snapshot_store_open(path, &store, errmsg), 0);
	assert_int_equal(snapshot_store_retain(store, 0, &removed, errmsg), 0);
	assert_int_equal(removed, 1);

	/* No progress: each admitted stream is reset within 1.25 leases of
	 * its last progress, and every pin goes with it. */
	t0 = clock_mono_ms();
	assert_true(wait_until(fx, all_failed_or_refused, &m, 4 * LEASE_MS));
	printf("# the admitted streams were reset %" PRIu64
	       " ms after retention was refused\n",
	       clock_mono_ms() - t0);
	for (int i = 0; i < N; i++) {
		assert_false(r[i]->done);
		req_free(r[i]);
	}
	assert_int_equal(snapshot_store_retain(store, 0, &removed, errmsg), 0);
	assert_int_equal(removed, 1);
	snprintf(path, sizeof path, "%s/snapshots/100-2.snapshot", fx->db1);
	assert_int_equal(access(path, F_OK), -1);
	snapshot_store_close(store);
	assert_true(wait_until(fx, no_streams, fx->sv, 10000));
}

static bool log_started(void *arg)
{
	struct many *m = arg;

	for (size_t i = 0; i < m->n; i++) {
		if (m->r[i]->status == 200 && !m->r[i]->got_start)
			return false;
		if (m->r[i]->status == 0 && m->r[i]->failed == 0)
			return false;
	}
	return true;
}

static unsigned want_streams;

static bool streams_equal(void *arg)
{
	return serve_streams(arg) == want_streams;
}

/* [serve] max_streams_per_identity counts an identity's open streams over
 * its connections: past it, a request is refused with 503 unavailable;
 * once one ends, the next is admitted. */
static void test_streams_per_identity(void **state)
{
	enum { N = 30, CAP = 20 };
	struct fx *fx = *state;
	struct req *r[N], *more;
	struct many m = {r, N};
	unsigned ok, refused;

	serve_free(fx->sv);
	fx->max_per_identity = CAP;
	start_server(fx);
	for (int i = 0; i < N; i++)
		r[i] = get(fx, 0, "/v1/db/db2/log?from=101&prev_term=2", false);
	assert_true(wait_until(fx, log_started, &m, 20000));
	count_answers(r, N, "max_streams_per_identity", &ok, &refused);
	assert_int_equal(ok, CAP);
	assert_int_equal(refused, N - CAP);
	assert_int_equal(info_status(fx, 1, "db2"), 200);
	/* Free one admitted stream: the next request fits again. */
	for (int i = 0; i < N; i++) {
		if (r[i]->status == 200) {
			req_free(r[i]);
			r[i] = NULL;
			break;
		}
	}
	want_streams = CAP - 1;
	assert_true(wait_until(fx, streams_equal, fx->sv, 10000));
	more = get(fx, 0, "/v1/db/db2/log?from=101&prev_term=2", false);
	wait_log(fx, more, 50, 1, 10000);
	assert_int_equal(more->status, 200);
	req_free(more);
	for (int i = 0; i < N; i++) {
		if (r[i] != NULL)
			req_free(r[i]);
	}
}

/* SIGHUP's [access] reload (serve_set_grants): a withdrawn grant ends the
 * open log stream with an `x` forbidden frame and answers 403 from then
 * on, while a mirror whose grant stayed keeps its stream and connection;
 * a bad set of grants changes nothing. */
static void test_set_grants(void **state)
{
	static const char *const only2[] = {"db2"};
	static const char *const nosuch[] = {"db9"};
	const struct serve_grant next[2] = {{"mirror-1", only2, 1},
	                                    {"mirror-2", only2, 1}};
	const struct serve_grant bad[1] = {{"mirror-1", nosuch, 1}};
	struct fx *fx = *state;
	char errmsg[MA_ERRMSG_SIZE];
	struct req *a, *b;
	unsigned revoked = 99;
	uint64_t hb;

	a = get(fx, 0, "/v1/db/db1/log?from=1&prev_term=0", false);
	b = get(fx, 1, "/v1/db/db2/log?from=101&prev_term=2", false);
	wait_log(fx, a, DB1_ENTRIES, 1, 10000);
	wait_log(fx, b, 50, 1, 10000);
	assert_int_equal(
	    serve_set_grants(fx->sv, bad, 1, false, &revoked, errmsg),
	    MA_ERR_CONFIG);
	assert_non_null(strstr(errmsg, "'db9'"));
	assert_int_equal(revoked, 0);
	assert_int_equal(info_status(fx, 0, "db1"), 200);

	assert_int_equal(
	    serve_set_grants(fx->sv, next, 2, false, &revoked, errmsg), 0);
	assert_int_equal(revoked, 1);
	assert_true(wait_until(fx, req_finished, a, 10000));
	assert_true(a->got_x);
	assert_int_equal(a->x, PROTO_ERROR_FORBIDDEN);
	assert_string_equal(a->x_message,
	                    "client 'mirror-1' may no longer read database "
	                    "'db1'");
	assert_int_equal(info_status(fx, 0, "db1"), 403);
	assert_int_equal(info_status(fx, 0, "db2"), 200);
	/* mirror-2 carries on: more heartbeats on the same stream, same
	 * connection. */
	hb = b->heartbeats;
	b->hb_after_entries = 0;
	wait_log(fx, b, 50, 2, 10000);
	assert_true(b->heartbeats >= hb + 2);
	assert_int_equal(fx->cli_closed[1], 0);
	assert_int_equal(fx->cli_closed[0], 0);
	req_free(a);
	req_free(b);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool got_start(void *arg)
{
	struct req *r = arg;

	return r->got_start || r->failed != 0 || r->ended;
}

/* One log request from the tail answered (its start frame), then
 * cancelled and its stream freed. Returns the time to the start frame in
 * microseconds. */
static uint64_t tail_request(struct fx *fx, const char *path)
{
	uint64_t t0 = clock_mono_ns(), t;
	struct req *r = get(fx, 0, path, false);

	assert_true(wait_until(fx, got_start, r, 10000));
	t = clock_mono_ns();
	assert_int_equal(r->status, 200);
	assert_false(r->got_x);
	req_free(r);
	assert_true(wait_until(fx, no_streams, fx->sv, 10000));
	return (t - t0) / 1000;
}

/* A mirror reconnecting to the tail again and again: each log request
 * reuses the wal reader of the ended one instead of opening a new reader,
 * which scans whole segments (every record read and CRC-checked) on the
 * loop. With a 16 MiB segment the first request pays the scan, the later
 * ones do not. */
static void test_log_reconnects_reuse_readers(void **state)
{
	enum { N = 20 };
	struct fx *fx = *state;
	uint64_t us[N], first;

	/* db3: one 16 MiB segment of 4000-byte entries. */
	assert_int_equal(sh("'%s' append '%s' --count 4000 --term 1 --size "
	                    "4000 --segment-size 67108864 >/dev/null",
	                    spoolgen, fx->db3),
	                 0);
	first = tail_request(fx, "/v1/db/db3/log?from=4001&prev_term=1");
	for (int i = 0; i < N; i++)
		us[i] =
		    tail_request(fx, "/v1/db/db3/log?from=4001&prev_term=1");
	qsort(us, N, sizeof us[0], cmp_u64);
	printf("# tail log request on a 16 MiB segment: first %" PRIu64
	       " us (opens a reader), then median %" PRIu64 " us, max %" PRIu64
	       " us over %d reconnects\n",
	       first, us[N / 2], us[N - 1], N);
	assert_int_equal(serve_reader_opens(fx->sv), 1);
	/* Another database's reader is its own. */
	(void)tail_request(fx, "/v1/db/db2/log?from=151&prev_term=2");
	assert_int_equal(serve_reader_opens(fx->sv), 2);
}

/* A spool whose wal directory does not exist yet: info says empty, a log
 * stream waits with heartbeats and follows once the tap starts writing. */
static void test_empty_spool(void **state)
{
	struct fx *fx = *state;
	struct req *r = get(fx, 0, "/v1/db/db3/info", false);

	assert_true(wait_until(fx, req_finished, r, 10000));
	assert_int_equal(r->status, 200);
	assert_true(r->have_info);
	assert_false(r->info.has_snapshot);
	assert_int_equal(r->info.first_index, 0);
	assert_int_equal(r->info.commit_index, 0);
	req_free(r);
	expect_error(fx, 0, "/v1/db/db3/snapshot?index=1&term=1", 404,
	             PROTO_ERROR_NOT_FOUND);

	r = get(fx, 0, "/v1/db/db3/log?from=1&prev_term=0", false);
	wait_log(fx, r, 0, 2, 10000);
	assert_int_equal(r->last_commit, 0);
	fx->child = spawn_spoolgen(fx->db3, "300", "1", "3000");
	wait_log(fx, r, 300, 1, 20000);
	reap(fx);
	assert_int_equal(r->last_commit, 300);
	assert_int_equal(r->last_first, 1);
	req_free(r);
}

/* Edge sizes around the 1 MiB chunk: 1 B, 1 MiB - 1, 1 MiB, 1 MiB + 1. */
static void test_snapshot_sizes(void **state)
{
	static const struct {
		unsigned index, size, chunks;
	} cases[] = {
	    {200, 1, 1},
	    {201, (1u << 20) - 1, 1},
	    {202, 1u << 20, 1},
	    {203, (1u << 20) + 1, 2},
	};
	struct fx *fx = *state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[128];
		struct req *r;

		assert_int_equal(sh("'%s' snapshot '%s' --index %u --term 2 "
		                    "--size %u >/dev/null",
		                    spoolgen, fx->db2, cases[i].index,
		                    cases[i].size),
		                 0);
		snprintf(path, sizeof path,
		         "/v1/db/db2/snapshot?index=%u&term=2", cases[i].index);
		r = get(fx, 0, path, true);
		assert_true(wait_until(fx, req_finished, r, 10000));
		assert_string_equal(r->bad, "");
		assert_int_equal(r->status, 200);
		assert_true(r->done);
		assert_int_equal(r->data_len, cases[i].size);
		assert_int_equal(r->chunks, cases[i].chunks);
		assert_int_equal(r->crc, r->total_crc);
		req_free(r);
	}
}

static bool stream_or_client_gone(void *arg)
{
	struct req *r = arg;

	return r->failed != 0 || r->ended || r->fx->cli_closed[0] != 0;
}

/* serve_free with open streams closes the connection. */
static void test_shutdown(void **state)
{
	struct fx *fx = *state;
	struct req *r = get(fx, 0, "/v1/db/db1/log?from=1&prev_term=0", false);

	wait_log(fx, r, DB1_ENTRIES, 1, 10000);
	assert_int_equal(serve_streams(fx->sv), 1);
	serve_free(fx->sv);
	fx->sv = NULL;
	assert_true(wait_until(fx, stream_or_client_gone, r, 10000));
	assert_false(r->ended);
	req_free(r);
}

/* ---- main ---- */

static int group_setup(void **state)
{
	const char *top = getenv("abs_top_builddir");

	(void)state;
	log_set_level(LOG_LEVEL_WARN);
	snprintf(spoolgen, sizeof spoolgen, "%s/tests/tools/spoolgen",
	         top != NULL && top[0] != '\0' ? top : MA_TOP_BUILDDIR);
	if (access(spoolgen, X_OK) != 0) {
		fprintf(stderr, "spoolgen not built: %s\n", spoolgen);
		return -1;
	}
	if (test_pki_make(&pki) != 0)
		return -1;
	snprintf(template_dir, sizeof template_dir, "/tmp/ma-test-XXXXXX");
	if (mkdtemp(template_dir) == NULL)
		return -1;
	if (sh("set -e; g='%s'; d='%s'; exec >/dev/null;"
	       "$g init $d/db1 --database db1;"
	       "$g snapshot $d/db1 --index 60 --term 2 --size 0;"
	       "$g snapshot $d/db1 --index 100 --term 2 --size %u;"
	       "$g append $d/db1 --count %u --term 2 --segment-size 65536;"
	       "$g init $d/db2 --database db2;"
	       "$g snapshot $d/db2 --index 100 --term 2 --size 1;"
	       "$g append $d/db2 --from 101 --count 50 --term 2;"
	       "$g init $d/db3 --database db3",
	       spoolgen, template_dir, BIG_SIZE, DB1_ENTRIES) != 0) {
		fprintf(stderr, "spoolgen failed\n");
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (template_dir[0] != '\0')
		sh("rm -rf '%s'", template_dir);
	test_pki_remove(&pki);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_info, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_and_resume, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_log_follow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_source_behind, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_access_rule, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_access_whole_identity, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_streams, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_releases, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_changed_and_pinned,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_spool, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_reconnects_reuse_readers,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_grants, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unread_snapshot_streams, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_streams_per_identity, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_sizes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
