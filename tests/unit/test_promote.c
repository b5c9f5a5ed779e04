/* Promote (agent/promote/promote.h): the choice of the index, the
 * request and record texts, the sequence on a real mirror directory
 * (figures, fencing, idempotence, bad input that changes nothing), and a
 * crash at every durability operation of the sequence (io_crash_set):
 * after each, the directory is either the followable mirror it was, with
 * the same data, or promoted, and promote run again finishes with the
 * same figures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/apply/applier.h"
#include "agent/follow/follow_core.h"
#include "agent/promote/promote.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "kv/kv_command.h"
#include "kv/kv_store.h"
#include "snapshot/snapshot.h"
#include "spool/spool.h"
#include "tests/lib/fixture.h"
#include "wal/wal.h"

#define UUID "6f1c3a52-9d0e-4b7a-8c21-0a1b2c3d4e5f"
#define DB "kv.main"
#define SNAP_AT 20 /* the bootstrap snapshot covers 1..20 */
#define LAST 50    /* the wal holds 21..50 */
#define TERM_OF(i) ((i) <= 30 ? 2u : 3u)

/* The put of entry i: key k<i % 7>, value v<i>. */
static size_t command(uint64_t i, uint8_t *buf, size_t cap)
{
	char key[16], value[24], errmsg[MA_ERRMSG_SIZE];
	struct kv_command c;
	size_t len;

	snprintf(key, sizeof key, "k%" PRIu64, i % 7);
	snprintf(value, sizeof value, "v%" PRIu64, i);
	memset(&c, 0, sizeof c);
	c.op = KV_OP_PUT;
	c.ns = "ns";
	c.ns_len = 2;
	c.key = (const uint8_t *)key;
	c.key_len = strlen(key);
	c.value = (const uint8_t *)value;
	c.value_len = strlen(value);
	assert_int_equal(kv_command_encode(&c, buf, cap, 8, &len, errmsg), 0);
	return len;
}

/* kv_store_fingerprint of the state after entries 1..index. */
static uint32_t reference_fingerprint(uint64_t index)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct kv_store *s;
	struct kv_result res;
	uint8_t buf[256];
	uint32_t fp;

	assert_int_equal(kv_store_new(&s), 0);
	for (uint64_t i = 1; i <= index; i++) {
		size_t len = command(i, buf, sizeof buf);
		assert_int_equal(kv_store_apply_buf(s, buf, len, &res, errmsg),
		                 0);
	}
	fp = kv_store_fingerprint(s);
	kv_store_free(s);
	return fp;
}

static struct proto_identity identity(uint64_t epoch)
{
	struct proto_identity id;

	memset(&id, 0, sizeof id);
	snprintf(id.cluster_id, sizeof id.cluster_id, "%s", UUID);
	snprintf(id.database_id, sizeof id.database_id, "%s", DB);
	id.epoch = epoch;
	return id;
}

/* A mirror directory as follow leaves it: identity, the bootstrap
 * snapshot at SNAP_AT (a kv store), the wal after it up to LAST. */
static void make_mirror(const char *dir)
{
	struct proto_identity id = identity(1);
	char errmsg[MA_ERRMSG_SIZE], path[4096];
	struct snapshot_ident si;
	struct snapshot_store *store;
	struct wal_options wo;
	struct wal_log *wal;
	struct kv_store *s;
	struct kv_result res;
	uint8_t buf[256];
	void *snap;
	size_t snap_len;

	assert_int_equal(spool_identity_write(dir, &id, false, errmsg), 0);
	assert_int_equal(kv_store_new(&s), 0);
	for (uint64_t i = 1; i <= SNAP_AT; i++) {
		size_t len = command(i, buf, sizeof buf);
		assert_int_equal(kv_store_apply_buf(s, buf, len, &res, errmsg),
		                 0);
	}
	assert_int_equal(kv_store_serialize(s, &snap, &snap_len, errmsg), 0);
	kv_store_free(s);
	snprintf(path, sizeof path, "%s/snapshots", dir);
	assert_int_equal(snapshot_store_open(path, &store, errmsg), 0);
	memset(&si, 0, sizeof si);
	snprintf(si.cluster_id, sizeof si.cluster_id, "%s", UUID);
	snprintf(si.database_id, sizeof si.database_id, "%s", DB);
	si.index = SNAP_AT;
	si.term = TERM_OF(SNAP_AT);
	assert_int_equal(snapshot_store_create_from_buf(
	                     store, &si, snap, snap_len, 1, NULL, errmsg),
	                 0);
	free(snap);
	snapshot_store_close(store);

	wal_options_init(&wo);
	assert_int_equal(wal_identity_init(&wo.identity, UUID, DB, errmsg), 0);
	wo.segment_size = 4096; /* several segments: truncation deletes some */
	snprintf(path, sizeof path, "%s/wal", dir);
	assert_int_equal(wal_log_open(path, &wo, &wal, errmsg), 0);
	assert_int_equal(wal_log_reset(wal, SNAP_AT + 1, errmsg), 0);
	for (uint64_t i = SNAP_AT + 1; i <= LAST; i++) {
		struct wal_entry e = {i, TERM_OF(i), WAL_ENTRY_COMMAND, buf,
		                      command(i, buf, sizeof buf)};
		assert_int_equal(wal_log_append(wal, &e, 1, 0, errmsg), 0);
	}
	wal_log_close(wal);
}

static void subdir(char *out, size_t size, const char *dir, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
	assert_int_equal(io_mkdir_p(out, 0755, NULL), 0);
}

static int run(const char *dir, int kind, uint64_t at, uint64_t sci,
               struct promote_result *r, char *errmsg)
{
	struct promote_options o = {0};

	o.dir = dir;
	o.name = DB;
	o.applier_kind = kind;
	o.at_index = at;
	o.source_commit_index = sci;
	o.now_unix_ms = 1764384000000;
	return promote_database(&o, r, errmsg);
}

/* The wal's last index, opened as a writer would. */
static uint64_t wal_last(const char *dir)
{
	char errmsg[MA_ERRMSG_SIZE], path[4096];
	struct wal_options wo;
	struct wal_log *wal;
	uint64_t last;

	wal_options_init(&wo);
	assert_int_equal(wal_identity_init(&wo.identity, UUID, DB, errmsg), 0);
	snprintf(path, sizeof path, "%s/wal", dir);
	assert_int_equal(wal_log_open(path, &wo, &wal, errmsg), 0);
	last = wal_log_last_index(wal);
	wal_log_close(wal);
	return last;
}

static bool promoted_file(const char *dir)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/%s", dir, SPOOL_PROMOTED_FILE);
	return access(path, F_OK) == 0;
}

/* follow_core_new on dir: 0 or its error code (errmsg filled);
 * MA_ERR_IDENTITY with the state's text when the core opened the
 * directory Promoted (fenced: it never asks a source). */
static int follow_open(const char *dir, char *errmsg)
{
	struct follow_core_config cc;
	struct follow_core *c = NULL;
	int rc;

	memset(&cc, 0, sizeof cc);
	cc.name = DB;
	cc.dir = dir;
	cc.applier_kind = APPLIER_KV;
	cc.seed = 1;
	rc = follow_core_new(&cc, 0, &c, errmsg);
	if (rc == 0 && follow_core_status(c)->state == MIRROR_PROMOTED) {
		assert_true(follow_core_failed(c));
		snprintf(errmsg, MA_ERRMSG_SIZE, "%s",
		         follow_core_status(c)->error);
		rc = MA_ERR_IDENTITY;
	}
	follow_core_free(c);
	return rc;
}

/* ---- pure parts ---- */

static void test_choose_index(void **state)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct promote_position p = {0};
	uint64_t index;

	(void)state;
	/* Bootstrapping: nothing complete held. */
	assert_int_equal(promote_choose_index(&p, 0, &index, errmsg),
	                 MA_ERR_NOTFOUND);
	assert_non_null(strstr(errmsg, "Bootstrapping"));
	p = (struct promote_position){20, 21, 50};
	assert_int_equal(promote_choose_index(&p, 0, &index, NULL), 0);
	assert_int_equal(index, 50);
	assert_int_equal(promote_choose_index(&p, 33, &index, NULL), 0);
	assert_int_equal(index, 33);
	assert_int_equal(promote_choose_index(&p, 20, &index, NULL), 0);
	assert_int_equal(index, 20);
	assert_int_equal(promote_choose_index(&p, 51, &index, errmsg),
	                 MA_ERR_INVAL);
	assert_non_null(strstr(errmsg, "beyond the last durable, applied "
	                               "index 50"));
	assert_int_equal(promote_choose_index(&p, 19, &index, errmsg),
	                 MA_ERR_INVAL);
	assert_non_null(strstr(errmsg, "before the newest snapshot"));
	/* Snapshot only, the wal empty after it. */
	p = (struct promote_position){20, 21, 20};
	assert_int_equal(promote_choose_index(&p, 0, &index, NULL), 0);
	assert_int_equal(index, 20);
	/* A wal from 1 and no snapshot. */
	p = (struct promote_position){0, 1, 9};
	assert_int_equal(promote_choose_index(&p, 0, &index, NULL), 0);
	assert_int_equal(index, 9);
	/* A gap between snapshot and wal. */
	p = (struct promote_position){20, 25, 50};
	assert_int_equal(promote_choose_index(&p, 0, &index, errmsg),
	                 MA_ERR_NOTFOUND);
	p = (struct promote_position){0, 5, 9};
	assert_int_equal(promote_choose_index(&p, 0, &index, NULL),
	                 MA_ERR_NOTFOUND);
}

static void test_texts(void **state)
{
	char text[SPOOL_PROMOTED_TEXT_MAX], buf[4096], errmsg[MA_ERRMSG_SIZE];
	struct spool_promoted p, q;
	struct promote_request rq, rq2;
	int n;

	(void)state;
	memset(&p, 0, sizeof p);
	p.from = identity(7);
	p.epoch = 8;
	snprintf(p.incarnation, sizeof p.incarnation, "%s",
	         "0a1b2c3d-0000-4000-8000-000000000001");
	p.index = 50;
	p.term = 3;
	snprintf(p.fingerprint, sizeof p.fingerprint, "kv:0badf00d");
	p.source_commit_index = 57;
	p.unix_ms = 1764384000123;
	n = spool_promoted_format(&p, text, errmsg);
	assert_true(n > 0);
	assert_int_equal(spool_promoted_parse(text, (size_t)n, &q, errmsg), 0);
	assert_memory_equal(&p, &q, sizeof p);
	/* One flipped byte, a non-canonical number, a cut: refused. */
	text[5] ^= 1;
	assert_int_equal(spool_promoted_parse(text, (size_t)n, &q, errmsg),
	                 MA_ERR_CORRUPT);
	text[5] ^= 1;
	assert_int_equal(spool_promoted_parse(text, (size_t)n - 1, &q, errmsg),
	                 MA_ERR_CORRUPT);
	assert_int_equal(q.index, 0); /* zeroed on failure */
	snprintf(p.fingerprint, sizeof p.fingerprint, "kv:a\nb");
	assert_int_equal(spool_promoted_format(&p, text, errmsg), MA_ERR_INVAL);

	memset(&rq, 0, sizeof rq);
	rq.at_index = 42;
	rq.n = 2;
	snprintf(rq.names[0], sizeof rq.names[0], "a");
	snprintf(rq.names[1], sizeof rq.names[1], "kv.main");
	n = promote_request_format(&rq, buf, sizeof buf);
	assert_string_equal(buf, "at_index=42\ndatabase=a\ndatabase=kv.main\n");
	assert_int_equal(promote_request_parse(buf, (size_t)n, &rq2, errmsg),
	                 0);
	assert_int_equal(rq2.at_index, 42);
	assert_int_equal(rq2.n, 2);
	assert_string_equal(rq2.names[1], "kv.main");
	assert_int_equal(
	    promote_request_parse("at_index=1\n", 11, &rq2, errmsg),
	    MA_ERR_CORRUPT); /* no database */
	assert_int_equal(promote_request_parse("at_index=1\ndatabase=../x\n",
	                                       25, &rq2, errmsg),
	                 MA_ERR_CORRUPT);
	assert_int_equal(promote_request_parse("at_index=-1\ndatabase=a\n", 23,
	                                       &rq2, errmsg),
	                 MA_ERR_CORRUPT);
}

/* ---- the sequence ---- */

static void test_promote_kv(void **state)
{
	char dir[1024], errmsg[MA_ERRMSG_SIZE], want[16];
	struct promote_result r, again;
	struct proto_identity id;

	subdir(dir, sizeof dir, *state, "m");
	make_mirror(dir);
	assert_int_equal(follow_open(dir, errmsg), 0); /* followable */
	assert_int_equal(run(dir, APPLIER_KV, 0, 57, &r, errmsg), 0);
	assert_false(r.already);
	assert_int_equal(r.rec.index, LAST);
	assert_int_equal(r.rec.term, TERM_OF(LAST));
	snprintf(want, sizeof want, "kv:%08" PRIx32,
	         reference_fingerprint(LAST));
	assert_string_equal(r.rec.fingerprint, want);
	assert_int_equal(r.rec.epoch, 2);
	assert_int_equal(r.rec.from.epoch, 1);
	assert_true(r.rpo_known);
	assert_int_equal(r.rpo_entries, 57 - LAST);
	assert_int_equal(r.truncated, 0);
	/* The identity is the new incarnation; the record says whence. */
	assert_int_equal(spool_identity_read(dir, &id, errmsg), 0);
	assert_int_equal(id.epoch, 2);
	assert_string_equal(id.cluster_id, UUID);
	assert_true(promoted_file(dir));
	/* Fenced: follow refuses, naming why. */
	assert_int_equal(follow_open(dir, errmsg), MA_ERR_IDENTITY);
	assert_non_null(strstr(errmsg, "was promoted at index 50"));
	assert_non_null(strstr(errmsg, "never followed again"));
	/* Idempotent: the same figures again, nothing changed. */
	assert_int_equal(run(dir, APPLIER_KV, 0, 99, &again, errmsg), 0);
	assert_true(again.already);
	assert_memory_equal(&again.rec, &r.rec, sizeof r.rec);
	assert_int_equal(again.rpo_entries, 57 - LAST);
	/* An --at-index other than the recorded one is refused. */
	assert_int_equal(run(dir, APPLIER_KV, 40, 0, &again, errmsg),
	                 MA_ERR_INVAL);
	assert_non_null(strstr(errmsg, "already promoted at index 50"));
	assert_int_equal(wal_last(dir), LAST);
}

/* Issue 11: the RPO figure must not under-count. The status file the
 * command reads is rewritten once a second and a restarted follower
 * forgets what the source had committed; the directory's source_commit
 * record keeps the highest figure heard, and promote takes the larger. */
static void test_rpo_from_the_directory(void **state)
{
	char dir[1024], errmsg[MA_ERRMSG_SIZE], path[1100];
	struct promote_result r;
	FILE *f;

	subdir(dir, sizeof dir, *state, "m");
	make_mirror(dir);
	assert_int_equal(spool_source_commit_write(dir, 80, errmsg), 0);
	/* A status file that knows less (stale, or after a restart). */
	assert_int_equal(run(dir, APPLIER_KV, 0, 52, &r, errmsg), 0);
	assert_true(r.rpo_known);
	assert_int_equal(r.rec.source_commit_index, 80);
	assert_int_equal(r.rpo_entries, 80 - LAST);
	/* No status file at all: the directory still knows. */
	subdir(dir, sizeof dir, *state, "n");
	make_mirror(dir);
	assert_int_equal(spool_source_commit_write(dir, 61, errmsg), 0);
	assert_int_equal(run(dir, APPLIER_KV, 40, 0, &r, errmsg), 0);
	assert_true(r.rpo_known);
	assert_int_equal(r.rpo_entries, 61 - 40);
	/* A status file that knows more wins. */
	subdir(dir, sizeof dir, *state, "o");
	make_mirror(dir);
	assert_int_equal(spool_source_commit_write(dir, 55, errmsg), 0);
	assert_int_equal(run(dir, APPLIER_KV, 0, 70, &r, errmsg), 0);
	assert_int_equal(r.rpo_entries, 70 - LAST);
	/* A damaged record is named, and ignored (a warning, not a
	 * refusal: it is only the figure's hint). */
	subdir(dir, sizeof dir, *state, "p");
	make_mirror(dir);
	snprintf(path, sizeof path, "%s/%s", dir, SPOOL_SOURCE_COMMIT_FILE);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("source_commit_index=12x\n", f);
	fclose(f);
	uint64_t seen;
	assert_int_equal(spool_source_commit_read(dir, &seen, errmsg),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, SPOOL_SOURCE_COMMIT_FILE));
	assert_int_equal(run(dir, APPLIER_KV, 0, 0, &r, errmsg), 0);
	assert_false(r.rpo_known);
}

static void test_promote_at_index(void **state)
{
	char dir[1024], errmsg[MA_ERRMSG_SIZE], want[16];
	struct promote_result r;

	subdir(dir, sizeof dir, *state, "m");
	make_mirror(dir);
	assert_int_equal(run(dir, APPLIER_KV, 33, 0, &r, errmsg), 0);
	assert_int_equal(r.rec.index, 33);
	assert_int_equal(r.rec.term, TERM_OF(33));
	assert_int_equal(r.truncated, LAST - 33);
	assert_false(r.rpo_known);
	snprintf(want, sizeof want, "kv:%08" PRIx32, reference_fingerprint(33));
	assert_string_equal(r.rec.fingerprint, want);
	assert_int_equal(wal_last(dir), 33);
	/* At the snapshot itself: its term, the wal emptied after it. */
	subdir(dir, sizeof dir, *state, "s");
	make_mirror(dir);
	assert_int_equal(run(dir, APPLIER_KV, SNAP_AT, 0, &r, errmsg), 0);
	assert_int_equal(r.rec.index, SNAP_AT);
	assert_int_equal(r.rec.term, TERM_OF(SNAP_AT));
	snprintf(want, sizeof want, "kv:%08" PRIx32,
	         reference_fingerprint(SNAP_AT));
	assert_string_equal(r.rec.fingerprint, want);
	assert_int_equal(wal_last(dir), SNAP_AT);
}

static void test_promote_log_fingerprint(void **state)
{
	char a[1024], b[1024], errmsg[MA_ERRMSG_SIZE];
	struct promote_result ra, rb, rc;

	subdir(a, sizeof a, *state, "a");
	subdir(b, sizeof b, *state, "b");
	make_mirror(a);
	make_mirror(b);
	assert_int_equal(run(a, APPLIER_NONE, 0, 0, &ra, errmsg), 0);
	assert_int_equal(run(b, APPLIER_NONE, 40, 0, &rb, errmsg), 0);
	assert_int_equal(strncmp(ra.rec.fingerprint, "log:", 4), 0);
	/* Equal bytes give equal fingerprints; other indexes differ. */
	assert_string_not_equal(ra.rec.fingerprint, rb.rec.fingerprint);
	subdir(b, sizeof b, *state, "c");
	make_mirror(b);
	assert_int_equal(run(b, APPLIER_NONE, 0, 0, &rc, errmsg), 0);
	assert_string_equal(ra.rec.fingerprint, rc.rec.fingerprint);
}

static void test_bad_input_changes_nothing(void **state)
{
	char dir[1024], errmsg[MA_ERRMSG_SIZE], path[4096];
	struct promote_result r;
	struct proto_identity id, id0 = identity(1);
	struct wal_options wo;
	struct wal_log *wal;

	/* Bootstrapping: identity stored, a partial receive, no snapshot. */
	subdir(dir, sizeof dir, *state, "boot");
	assert_int_equal(spool_identity_write(dir, &id0, false, errmsg), 0);
	subdir(path, sizeof path, dir, "recv");
	assert_int_equal(run(dir, APPLIER_KV, 0, 0, &r, errmsg),
	                 MA_ERR_NOTFOUND);
	assert_non_null(strstr(errmsg, "Bootstrapping"));
	assert_false(promoted_file(dir));
	assert_int_equal(spool_identity_read(dir, &id, errmsg), 0);
	assert_true(spool_identity_equal(&id, &id0));

	/* Never reached a source. */
	subdir(dir, sizeof dir, *state, "empty");
	assert_int_equal(run(dir, APPLIER_KV, 0, 0, &r, errmsg),
	                 MA_ERR_NOTFOUND);
	assert_non_null(strstr(errmsg, "no identity"));

	/* --at-index beyond what is applied. */
	subdir(dir, sizeof dir, *state, "m");
	make_mirror(dir);
	assert_int_equal(run(dir, APPLIER_KV, LAST + 1, 0, &r, errmsg),
	                 MA_ERR_INVAL);
	assert_non_null(strstr(errmsg, "beyond the last durable, applied "
	                               "index 50"));
	assert_false(promoted_file(dir));
	assert_int_equal(wal_last(dir), LAST);

	/* Locked by a running follower (its wal writer holds the lock). */
	wal_options_init(&wo);
	assert_int_equal(wal_identity_init(&wo.identity, UUID, DB, errmsg), 0);
	snprintf(path, sizeof path, "%s/wal", dir);
	assert_int_equal(wal_log_open(path, &wo, &wal, errmsg), 0);
	assert_int_equal(run(dir, APPLIER_KV, 0, 0, &r, errmsg), MA_ERR_BUSY);
	assert_non_null(strstr(errmsg, "in use by a running follower"));
	wal_log_close(wal);
	assert_false(promoted_file(dir));
	assert_int_equal(spool_identity_read(dir, &id, errmsg), 0);
	assert_true(spool_identity_equal(&id, &id0));
	assert_int_equal(follow_open(dir, errmsg), 0);
}

/* ---- crash safety ---- */

static void test_crash_at_every_point(void **state)
{
	char dir[1024], errmsg[MA_ERRMSG_SIZE];
	struct promote_result ref, r;
	struct proto_identity id, id0 = identity(1);
	long total, crashed = 0, old = 0, promoted = 0;

	/* Count the durability operations of one promotion (at 40, so the
	 * wal truncation is in the sequence). */
	subdir(dir, sizeof dir, *state, "count");
	make_mirror(dir);
	io_crash_set(0);
	assert_int_equal(run(dir, APPLIER_KV, 40, 0, &ref, errmsg), 0);
	total = io_crash_ops();
	io_fault_clear();
	assert_true(total >= 6 && total < 200);
	for (long k = 1; k <= total; k++) {
		char name[32];
		int status;
		pid_t pid;

		snprintf(name, sizeof name, "k%ld", k);
		subdir(dir, sizeof dir, *state, name);
		make_mirror(dir);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			io_crash_set(k);
			_exit(run(dir, APPLIER_KV, 40, 0, &r, NULL) == 0 ? 0
			                                                 : 1);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), IO_CRASH_EXIT_CODE);
		crashed++;
		if (!promoted_file(dir)) {
			/* The old state: the same mirror, all its data. */
			old++;
			assert_int_equal(spool_identity_read(dir, &id, errmsg),
			                 0);
			assert_true(spool_identity_equal(&id, &id0));
			assert_int_equal(wal_last(dir), LAST);
			assert_int_equal(follow_open(dir, errmsg), 0);
			continue;
		}
		/* Committed: fenced at once, and promote finishes it. */
		promoted++;
		if (follow_open(dir, errmsg) != MA_ERR_IDENTITY)
			fail_msg("crash point %ld: promoted directory "
			         "followable: %s",
			         k, errmsg);
		assert_int_equal(run(dir, APPLIER_KV, 0, 0, &r, errmsg), 0);
		assert_true(r.already);
		assert_int_equal(r.rec.index, 40);
		assert_int_equal(r.rec.term, ref.rec.term);
		assert_string_equal(r.rec.fingerprint, ref.rec.fingerprint);
		assert_int_equal(wal_last(dir), 40);
		assert_int_equal(spool_identity_read(dir, &id, errmsg), 0);
		assert_int_equal(id.epoch, 2);
	}
	assert_int_equal(crashed, total);
	assert_true(old > 0 && promoted > 0);
	print_message("# %ld crash points: %ld left the mirror, %ld the "
	              "promoted directory\n",
	              total, old, promoted);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_choose_index),
	    cmocka_unit_test(test_texts),
	    cmocka_unit_test_setup_teardown(test_promote_kv, fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_rpo_from_the_directory,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_promote_at_index, fx_scratch_setup, fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_promote_log_fingerprint,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input_changes_nothing,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_crash_at_every_point,
	                                    fx_scratch_setup,
	                                    fx_scratch_teardown),
	};
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
