/* The libraft wrapper (tap/tap_raft.c) driven with a hand-built struct
 * raft laid out as libraft 0.15 keeps it (see the top of tap_raft.c):
 * index and term of applied entries, barrier/configuration entries copied
 * from the log, snapshots, restores. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>

#include "common/errors.h"
#include "tap/tap.h"
#include "wal/wal.h"

#define UUID "6f0b7c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b"
#define LOG_SLOTS 8

struct inner {
	int applied, restored, snapshots;
	char state[32];
};

struct fx {
	char dir[64];
	struct tap *tap;
	struct raft r;
	struct raft_entry entries[LOG_SLOTS];
	char data[LOG_SLOTS][16];
	struct inner in;
	struct raft_fsm inner, out;
};

static int inner_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                       void **result)
{
	struct inner *in = fsm->data;

	in->applied++;
	*result = NULL;
	return 0;
}

static int inner_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                          unsigned *n)
{
	struct inner *in = fsm->data;

	/* Two buffers: the wrapper joins them for the spool. */
	*bufs = calloc(2, sizeof **bufs);
	(*bufs)[0].base = strdup("state-");
	(*bufs)[0].len = 6;
	(*bufs)[1].base = strdup("four");
	(*bufs)[1].len = 4;
	*n = 2;
	in->snapshots++;
	return 0;
}

static int inner_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                          unsigned *n)
{
	for (unsigned i = 0; i < *n; i++)
		free((*bufs)[i].base);
	free(*bufs);
	return 0;
}

static int inner_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct inner *in = fsm->data;

	in->restored++;
	snprintf(in->state, sizeof in->state, "%.*s", (int)buf->len,
	         (char *)buf->base);
	return 0;
}

/* Puts entry index (term, type) into the fake log (offset 0, no wrap). */
static void log_put(struct fx *f, unsigned index, unsigned long long term,
                    unsigned short type)
{
	struct raft_entry *e = &f->entries[index - 1];

	snprintf(f->data[index - 1], sizeof f->data[0], "entry-%u", index);
	e->term = term;
	e->type = type;
	e->buf.base = f->data[index - 1];
	e->buf.len = 8; /* padded payloads, as the wrapper requires */
	f->r.log.back = index;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char errmsg[MA_ERRMSG_SIZE];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/ma-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(tap_open(f->dir, UUID, "kv", NULL, &f->tap, errmsg),
	                 0);
	f->r.state = RAFT_FOLLOWER;
	f->r.log.entries = f->entries;
	f->r.log.size = LOG_SLOTS;
	f->inner.version = 2;
	f->inner.data = &f->in;
	f->inner.apply = inner_apply;
	f->inner.snapshot = inner_snapshot;
	f->inner.snapshot_finalize = inner_finalize;
	f->inner.restore = inner_restore;
	assert_int_equal(tap_raft_fsm_wrap(&f->inner, &f->r, f->tap, &f->out),
	                 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	tap_raft_fsm_unwrap(&f->out);
	tap_close(f->tap);
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* libraft applying the command at index: last_applied is index - 1. */
static int apply(struct fx *f, unsigned index)
{
	void *result;
	int rc;

	f->r.last_applied = index - 1;
	rc = f->out.apply(&f->out, &f->entries[index - 1].buf, &result);
	if (rc == 0)
		f->r.last_applied = index;
	return rc;
}

static void expect_entry(struct fx *f, uint64_t index, uint64_t term,
                         uint8_t type)
{
	char path[128], errmsg[MA_ERRMSG_SIZE];
	struct wal_reader *r;
	struct wal_entry e;

	snprintf(path, sizeof path, "%s/wal", f->dir);
	assert_int_equal(wal_reader_open(path, NULL, &r, errmsg), 0);
	assert_int_equal(wal_reader_seek(r, index, errmsg), 0);
	assert_int_equal(wal_reader_next(r, &e, errmsg), 0);
	assert_int_equal(e.term, term);
	assert_int_equal(e.type, type);
	assert_int_equal(e.len, 8);
	assert_memory_equal(e.data, f->data[index - 1], 8);
	wal_reader_close(r);
}

static void test_apply_taps_index_and_term(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE];

	log_put(f, 1, 1, RAFT_CHANGE);
	log_put(f, 2, 1, RAFT_COMMAND);
	log_put(f, 3, 1, RAFT_BARRIER);
	log_put(f, 4, 2, RAFT_COMMAND);
	f->r.current_term = 5; /* must not be used for old entries */
	assert_int_equal(tap_raft_started(&f->out, errmsg), 0);
	assert_int_equal(apply(f, 2), 0);
	/* libraft applies the barrier without calling the FSM. */
	f->r.last_applied = 3;
	assert_int_equal(apply(f, 4), 0);
	assert_int_equal(f->in.applied, 2);
	assert_int_equal(tap_last_index(f->tap), 4);
	expect_entry(f, 1, 1, TAP_ENTRY_CONFIG);
	expect_entry(f, 2, 1, TAP_ENTRY_COMMAND);
	expect_entry(f, 3, 1, TAP_ENTRY_BARRIER);
	expect_entry(f, 4, 2, TAP_ENTRY_COMMAND);
	/* Re-applied after a restart (replay from the start): verified. */
	assert_int_equal(apply(f, 2), 0);
	assert_int_equal(f->in.applied, 3);
}

static void test_apply_checks_libraft_layout(void **state)
{
	struct fx *f = *state;
	char stray_data[] = "elsewhere";
	struct raft_buffer stray = {stray_data, 8};
	void *result;

	log_put(f, 1, 1, RAFT_COMMAND);
	f->r.last_applied = 0;
	/* A payload that is not the log's entry at last_applied + 1. */
	assert_int_equal(f->out.apply(&f->out, &stray, &result), RAFT_INVALID);
	assert_int_equal(f->in.applied, 0);
	assert_int_equal(tap_last_index(f->tap), 0);
}

static void test_divergence_fails_apply(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE];

	assert_int_equal(tap_append(f->tap, 1, 1, TAP_ENTRY_COMMAND, "other!!",
	                            8, 0, errmsg),
	                 0);
	log_put(f, 1, 1, RAFT_COMMAND);
	assert_int_equal(apply(f, 1), RAFT_IOERR);
	assert_int_equal(f->in.applied, 0); /* the FSM was not touched */
}

static void test_snapshot_and_installed_restore(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE];
	struct raft_buffer *bufs;
	char buf_data[] = "leader-state";
	struct raft_buffer buf = {buf_data, 12};
	uint64_t index, term;
	unsigned n;

	for (unsigned i = 1; i <= 4; i++)
		log_put(f, i, 1, i == 3 ? RAFT_BARRIER : RAFT_COMMAND);
	assert_int_equal(apply(f, 1), 0);
	assert_int_equal(apply(f, 2), 0);
	f->r.last_applied = 3;
	/* libraft's takeSnapshot: pending index/term set, then the FSM. */
	f->r.snapshot.pending.index = 3;
	f->r.snapshot.pending.term = 1;
	assert_int_equal(f->out.snapshot(&f->out, &bufs, &n), 0);
	assert_int_equal(n, 2);
	assert_non_null(f->out.snapshot_finalize);
	f->out.snapshot_finalize(&f->out, &bufs, &n);
	assert_int_equal(tap_latest_snapshot(f->tap, &index, &term, errmsg), 0);
	assert_int_equal(index, 3);
	assert_int_equal(tap_last_index(f->tap), 3); /* barrier caught up */

	/* InstallSnapshot: logRestore set the log's snapshot first. */
	f->r.log.snapshot.last_index = 40;
	f->r.log.snapshot.last_term = 3;
	f->r.log.offset = 40;
	f->r.log.front = f->r.log.back = 0;
	assert_int_equal(f->out.restore(&f->out, &buf), 0);
	assert_int_equal(f->in.restored, 1);
	assert_string_equal(f->in.state, "leader-state");
	assert_int_equal(tap_first_index(f->tap), 41);
	assert_int_equal(tap_latest_snapshot(f->tap, &index, &term, errmsg), 0);
	assert_int_equal(index, 40);
	assert_int_equal(term, 3);
}

static void test_startup_restore_rebases_lost_spool(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE];
	char buf_data[] = "own-snapshot";
	struct raft_buffer buf = {buf_data, 12};
	uint64_t index, term;

	/* raft_start(): state unavailable, log snapshot not yet set. */
	f->r.state = RAFT_UNAVAILABLE;
	assert_int_equal(f->out.restore(&f->out, &buf), 0);
	assert_int_equal(f->in.restored, 1);
	/* After raft_start: snapshot 20, log compacted up to it. */
	f->r.state = RAFT_FOLLOWER;
	f->r.log.snapshot.last_index = 20;
	f->r.log.snapshot.last_term = 4;
	f->r.log.offset = 20;
	f->r.last_applied = 20;
	assert_int_equal(tap_raft_started(&f->out, errmsg), 0);
	assert_int_equal(tap_first_index(f->tap), 21);
	assert_int_equal(tap_latest_snapshot(f->tap, &index, &term, errmsg), 0);
	assert_int_equal(index, 20);
	assert_int_equal(term, 4);
}

static void test_wrap_refuses(void **state)
{
	struct fx *f = *state;
	struct raft_fsm v3 = f->inner, out;

	v3.version = 3;
	v3.snapshot_async = inner_snapshot;
	assert_int_equal(tap_raft_fsm_wrap(&v3, &f->r, f->tap, &out),
	                 MA_ERR_INVAL);
	assert_int_equal(tap_raft_fsm_wrap(NULL, &f->r, f->tap, &out),
	                 MA_ERR_INVAL);
	assert_int_equal(tap_raft_pad_len(0), 0);
	assert_int_equal(tap_raft_pad_len(1), 8);
	assert_int_equal(tap_raft_pad_len(8), 8);
	assert_int_equal(tap_raft_pad_len(25), 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_apply_taps_index_and_term,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_apply_checks_libraft_layout,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_divergence_fails_apply, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_and_installed_restore,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_startup_restore_rebases_lost_spool, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrap_refuses, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
