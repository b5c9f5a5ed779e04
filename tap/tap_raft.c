/* tap glue for canonical/raft 0.15 (libraft): a struct raft_fsm wrapper
 * that taps applied entries, snapshots and restores (tap/tap.h).
 *
 * libraft hands the FSM only the payload of an entry, not its index or
 * term. This file reads them from the `struct raft` the FSM belongs to,
 * relying on what libraft 0.15 does (checked in its source:
 * src/replication.c, src/log.c, src/snapshot.c, src/start.c) and on
 * fields its public header <raft.h> exposes:
 *  - replicationApply() walks index = last_applied + 1 .. commit_index
 *    and sets r->last_applied = index only after fsm->apply returned, so
 *    inside apply the entry's index is raft_last_applied(r) + 1; the
 *    buffer it passes is &entry->buf of the entry at that index in r->log.
 *    Both are checked at run time (buffer identity), so a libraft that
 *    behaves otherwise fails the apply loudly instead of tapping a wrong
 *    index.
 *  - struct raft_log (public in 0.15) is a circular buffer: entries[size],
 *    used slots [front, back), the first entry has index offset + 1. An
 *    entry's term is read from there; r->current_term would be wrong for
 *    entries of older terms (re-applied after a restart, or caught up by
 *    a follower).
 *  - takeSnapshot() sets r->snapshot.pending.index (= last_applied) and
 *    .term before calling fsm->snapshot, and compacts r->log only after
 *    the snapshot was stored, so every entry up to the snapshot index is
 *    still in r->log inside fsm->snapshot.
 *  - a snapshot installed from the leader: logRestore() sets
 *    r->log.snapshot.last_index/last_term to the snapshot's before
 *    fsm->restore runs (state is not RAFT_UNAVAILABLE then). The restore
 *    inside raft_start() runs in RAFT_UNAVAILABLE state before
 *    r->log.snapshot is set, so its index is only known once raft_start()
 *    returned: the wrapper keeps a copy of the data until then
 *    (tap_raft_started()).
 *  - barrier and configuration entries never reach fsm->apply; the
 *    wrapper copies them from r->log into the spool with their real type,
 *    term and data, so the spool is a faithful copy of the committed log.
 *
 * This file owns a clock (now_ms for group commit, created_ms for
 * snapshot metadata): it is glue, the tap core has none. */
#include <raft.h>

#include "common/clock.h"
#include "tap/tap.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "common/log.h"

struct wrap {
	struct raft_fsm *inner;
	struct raft *r;
	struct tap *tap;
	bool started;   /* the start-up check ran */
	void *restored; /* copy of the snapshot restored by raft_start() */
	size_t restored_len;
	bool have_restored;
	int64_t contact_ms; /* last leader contact, wall ms (0: never) */
};

size_t tap_raft_pad_len(size_t len)
{
	return (len + 7) & ~(size_t)7;
}

static int to_raft_error(int rc)
{
	switch (rc) {
	case MA_ERR_NOMEM:
		return RAFT_NOMEM;
	case MA_ERR_NOSPACE:
		return RAFT_NOSPACE;
	case MA_ERR_INVAL:
		return RAFT_INVALID;
	default:
		return RAFT_IOERR;
	}
}

/* The entry at index in libraft's in-memory log, or NULL (see the top for
 * the layout this relies on). */
static const struct raft_entry *log_get(const struct raft_log *l,
                                        raft_index index)
{
	size_t n;

	if (l->entries == NULL || l->size == 0)
		return NULL;
	n = l->front <= l->back ? l->back - l->front
	                        : l->size - l->front + l->back;
	if (n == 0 || index <= l->offset || index > l->offset + n)
		return NULL;
	return &l->entries[(l->front + (size_t)(index - 1 - l->offset)) %
	                   l->size];
}

/* Taps every entry after the spool's last one up to upto from r->log.
 * Fails with MA_ERR_COMPACTED when one is no longer there (the spool
 * then needs a rebase from a snapshot). */
static int catch_up(struct wrap *w, raft_index upto, char *errmsg)
{
	uint64_t first = tap_first_index(w->tap);
	uint64_t last = tap_last_index(w->tap);
	raft_index i = first == 0 ? 1 : last + 1;
	uint64_t now = clock_mono_ms();

	for (; i <= upto; i++) {
		const struct raft_entry *e = log_get(&w->r->log, i);
		int rc;

		if (e == NULL)
			return ma_errorf(errmsg, MA_ERR_COMPACTED,
			                 "entry %llu is no longer in libraft's "
			                 "log; the spool lacks it",
			                 i);
		rc = tap_append(w->tap, i, e->term, (uint8_t)e->type,
		                e->buf.base, e->buf.len, now, errmsg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void drop_restored(struct wrap *w)
{
	free(w->restored);
	w->restored = NULL;
	w->restored_len = 0;
	w->have_restored = false;
}

/* The start-up check (tap_raft_started). */
static int startup_check(struct wrap *w, char *errmsg)
{
	raft_index snap = w->r->log.snapshot.last_index;
	raft_term snap_term = w->r->log.snapshot.last_term;
	uint64_t first, last, term;
	int rc = 0;

	if (w->started)
		return 0;
	first = tap_first_index(w->tap);
	last = tap_last_index(w->tap);
	if (w->have_restored && snap > 0) {
		if (first != 0 && snap >= first && snap <= last) {
			rc = tap_term_at(w->tap, snap, &term, errmsg);
			if (rc == 0 && term != snap_term)
				rc = ma_errorf(
				    errmsg, MA_ERR_DIVERGED,
				    "libraft restored snapshot %llu-%llu but "
				    "the spool holds entry %llu with term "
				    "%" PRIu64 "; move the spool away and "
				    "restart the node",
				    snap, snap_term, snap, term);
		} else if (first == 0 || snap > last) {
			/* The spool does not reach the snapshot: copy what
			 * libraft still has, else start a new base. */
			rc = catch_up(w, snap, errmsg);
			if (rc == MA_ERR_COMPACTED) {
				log_warn("tap: spool ends at %" PRIu64
				         ", libraft restored snapshot %llu: "
				         "rebasing the spool on it",
				         last, snap);
				rc = tap_snapshot_installed(
				    w->tap, snap, snap_term, w->restored,
				    w->restored_len, clock_wall_ms(), errmsg);
			}
		}
	}
	if (rc != 0)
		return rc;
	drop_restored(w);
	w->started = true;
	/* Entries libraft holds as applied (none beyond the snapshot right
	 * after raft_start, but tap_raft_started may be called later). */
	return catch_up(w, w->r->last_applied, errmsg);
}

int tap_raft_started(struct raft_fsm *out, char *errmsg)
{
	return startup_check(out->data, errmsg);
}

static int wrap_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                      void **result)
{
	struct wrap *w = fsm->data;
	char errmsg[MA_ERRMSG_SIZE];
	raft_index index = raft_last_applied(w->r) + 1;
	const struct raft_entry *e = log_get(&w->r->log, index);
	int rc;

	if (e == NULL || e->type != RAFT_COMMAND || e->buf.base != buf->base ||
	    e->buf.len != buf->len) {
		log_error("tap: apply: the payload is not entry %llu of "
		          "libraft's log; this libraft does not behave as "
		          "0.15 does (see tap/tap_raft.c): not applying",
		          index);
		return RAFT_INVALID;
	}
	rc = startup_check(w, errmsg);
	if (rc == 0)
		rc = catch_up(w, index - 1, errmsg);
	if (rc == 0)
		rc = tap_append(w->tap, index, e->term, TAP_ENTRY_COMMAND,
		                buf->base, buf->len, clock_mono_ms(), errmsg);
	if (rc != 0) {
		log_error("tap: apply %llu: %s: %s", index, ma_strerror(rc),
		          errmsg);
		return to_raft_error(rc);
	}
	return w->inner->apply(w->inner, buf, result);
}

static int wrap_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                         unsigned *n_bufs)
{
	struct wrap *w = fsm->data;
	char errmsg[MA_ERRMSG_SIZE];
	raft_index index = w->r->snapshot.pending.index;
	raft_term term = w->r->snapshot.pending.term;
	const struct raft_entry *e;
	uint8_t *joined = NULL;
	const void *data;
	size_t len = 0;
	int rc;

	rc = w->inner->snapshot(w->inner, bufs, n_bufs);
	if (rc != 0)
		return rc;
	e = log_get(&w->r->log, index);
	if (index == 0 || index != raft_last_applied(w->r) || e == NULL ||
	    e->term != term) {
		log_error("tap: snapshot: libraft's pending snapshot "
		          "(%llu-%llu) is not its last applied entry %llu "
		          "in its log; this libraft does not behave as 0.15 "
		          "does: the spool gets no snapshot",
		          index, term, raft_last_applied(w->r));
		return 0;
	}
	if (*n_bufs == 1) {
		data = (*bufs)[0].base;
		len = (*bufs)[0].len;
	} else {
		for (unsigned i = 0; i < *n_bufs; i++)
			len += (*bufs)[i].len;
		joined = malloc(len > 0 ? len : 1);
		if (joined == NULL) {
			log_error("tap: snapshot %llu: out of memory", index);
			return 0;
		}
		len = 0;
		for (unsigned i = 0; i < *n_bufs; i++) {
			memcpy(joined + len, (*bufs)[i].base, (*bufs)[i].len);
			len += (*bufs)[i].len;
		}
		data = joined;
	}
	rc = startup_check(w, errmsg);
	if (rc == 0)
		rc = catch_up(w, index, errmsg);
	if (rc == 0)
		rc = tap_snapshot_taken(w->tap, index, term, data, len,
		                        clock_wall_ms(), errmsg);
	/* The node's own snapshot goes ahead: the spool keeps its log, which
	 * retention only trims after a spool snapshot succeeded. */
	if (rc != 0)
		log_error("tap: snapshot %llu-%llu not written to the spool: "
		          "%s: %s",
		          index, term, ma_strerror(rc), errmsg);
	free(joined);
	return 0;
}

static int wrap_snapshot_finalize(struct raft_fsm *fsm,
                                  struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct wrap *w = fsm->data;

	return w->inner->snapshot_finalize(w->inner, bufs, n_bufs);
}

static int wrap_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct wrap *w = fsm->data;
	char errmsg[MA_ERRMSG_SIZE];
	raft_index index = w->r->log.snapshot.last_index;
	raft_term term = w->r->log.snapshot.last_term;
	int rc;

	if (raft_state(w->r) == RAFT_UNAVAILABLE) {
		/* Inside raft_start(): libraft's own last snapshot. Its index
		 * is known once raft_start() returns; inner->restore frees
		 * the buffer, so keep a copy for a possible rebase. */
		drop_restored(w);
		w->restored = malloc(buf->len > 0 ? buf->len : 1);
		if (w->restored == NULL)
			return RAFT_NOMEM;
		memcpy(w->restored, buf->base, buf->len);
		w->restored_len = buf->len;
		w->have_restored = true;
		return w->inner->restore(w->inner, buf);
	}
	/* Installed from the leader. */
	if (index == 0 || term == 0 || index <= raft_last_applied(w->r)) {
		log_error("tap: restore: libraft's snapshot %llu-%llu is not "
		          "ahead of its last applied entry %llu; this libraft "
		          "does not behave as 0.15 does: not restoring",
		          index, term, raft_last_applied(w->r));
		return RAFT_INVALID;
	}
	rc = tap_snapshot_installed(w->tap, index, term, buf->base, buf->len,
	                            clock_wall_ms(), errmsg);
	if (rc != 0) {
		log_error("tap: restore %llu-%llu: %s: %s", index, term,
		          ma_strerror(rc), errmsg);
		return to_raft_error(rc);
	}
	drop_restored(w);
	w->started = true;
	return w->inner->restore(w->inner, buf);
}

/* A follower resets its election timer when it hears from its leader
 * (libraft 0.15 electionResetTimer in recvAppendEntries/InstallSnapshot),
 * so the time since r->election_timer_start (in r->io's clock) is the
 * time since that contact. A leader steps down when it has not reached a
 * majority within its election timeout, so while it leads it has a
 * quorum: its contact is now. A candidate, or a follower without a
 * leader, keeps the last contact it had. */
int tap_raft_freshness(struct raft_fsm *out, char *errmsg)
{
	struct wrap *w;
	struct tap_freshness fr;
	raft_id id = 0;
	const char *address = NULL;
	int64_t wall = (int64_t)clock_wall_ms();

	if (out == NULL || out->data == NULL)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "tap_raft_freshness: no wrapper");
	w = out->data;
	memset(&fr, 0, sizeof fr);
	raft_leader(w->r, &id, &address);
	fr.is_leader = raft_state(w->r) == RAFT_LEADER;
	fr.leader_known = fr.is_leader || id != 0;
	if (fr.is_leader) {
		w->contact_ms = wall;
	} else if (raft_state(w->r) == RAFT_FOLLOWER && id != 0 &&
	           w->r->io != NULL && w->r->io->time != NULL) {
		raft_time now = w->r->io->time(w->r->io);
		raft_time start = w->r->election_timer_start;
		int64_t since = now > start ? (int64_t)(now - start) : 0;

		w->contact_ms = wall > since ? wall - since : 0;
	}
	fr.leader_contact_ms = w->contact_ms;
	fr.commit_index = w->r->commit_index;
	return tap_freshness_note(w->tap, &fr, clock_mono_ms(), wall, errmsg);
}

int tap_raft_fsm_wrap(struct raft_fsm *inner, struct raft *r, struct tap *tap,
                      struct raft_fsm *out)
{
	struct wrap *w;

	if (inner == NULL || r == NULL || tap == NULL || out == NULL ||
	    inner->version < 1 || inner->version > 3)
		return MA_ERR_INVAL;
	if (inner->version >= 3 && inner->snapshot_async != NULL)
		return MA_ERR_INVAL;
	w = calloc(1, sizeof *w);
	if (w == NULL)
		return MA_ERR_NOMEM;
	w->inner = inner;
	w->r = r;
	w->tap = tap;
	memset(out, 0, sizeof *out);
	out->version = inner->version >= 2 ? 2 : 1;
	out->data = w;
	out->apply = wrap_apply;
	out->snapshot = wrap_snapshot;
	out->restore = wrap_restore;
	if (inner->version >= 2 && inner->snapshot_finalize != NULL)
		out->snapshot_finalize = wrap_snapshot_finalize;
	return 0;
}

void tap_raft_fsm_unwrap(struct raft_fsm *out)
{
	struct wrap *w;

	if (out == NULL || out->data == NULL)
		return;
	w = out->data;
	drop_restored(w);
	free(w);
	out->data = NULL;
}
