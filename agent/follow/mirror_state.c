#include "agent/follow/mirror_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *mirror_state_name(enum mirror_state s)
{
	switch (s) {
	case MIRROR_CONNECTING:
		return "Connecting";
	case MIRROR_BOOTSTRAPPING:
		return "Bootstrapping";
	case MIRROR_CATCHING_UP:
		return "CatchingUp";
	case MIRROR_FOLLOWING:
		return "Following";
	case MIRROR_DEGRADED:
		return "Degraded";
	case MIRROR_DISCONNECTED:
		return "Disconnected";
	case MIRROR_ERROR:
		return "Error";
	case MIRROR_PROMOTED:
		return "Promoted";
	}
	return "Unknown";
}

void mirror_sm_init(struct mirror_sm *sm, const struct mirror_state_config *c,
                    uint64_t applied_index, uint64_t seed)
{
	memset(sm, 0, sizeof *sm);
	sm->config = *c;
	if (sm->config.endpoint_count == 0)
		sm->config.endpoint_count = 1;
	if (sm->config.backoff_min_ms == 0)
		sm->config.backoff_min_ms = 1;
	if (sm->config.backoff_max_ms < sm->config.backoff_min_ms)
		sm->config.backoff_max_ms = sm->config.backoff_min_ms;
	sm->status.state = MIRROR_CONNECTING;
	sm->status.applied_index = applied_index;
	sm->rng = seed != 0 ? seed : 0x9E3779B97F4A7C15ull;
}

static bool terminal(const struct mirror_sm *sm)
{
	return sm->status.state == MIRROR_ERROR ||
	       sm->status.state == MIRROR_PROMOTED;
}

/* Every event passes here first: silence counts from the first event,
 * and the contact age is kept current for the status readers. */
static void clock_in(struct mirror_sm *sm, uint64_t now_ms)
{
	uint64_t since;

	if (!sm->started) {
		sm->started = true;
		sm->start_ms = now_ms;
	}
	since = sm->heard ? sm->last_heard_ms : sm->start_ms;
	sm->status.has_contact = sm->heard;
	sm->status.last_contact_age_ms = now_ms > since ? now_ms - since : 0;
}

/* A word from the source (not a handshake: a source that accepts and
 * says nothing useful is silent). */
static void heard(struct mirror_sm *sm, uint64_t now_ms)
{
	clock_in(sm, now_ms);
	sm->heard = true;
	sm->last_heard_ms = now_ms;
	sm->status.has_contact = true;
	sm->status.last_contact_age_ms = 0;
}

static bool silent(const struct mirror_sm *sm, uint64_t now_ms)
{
	uint64_t since = sm->heard ? sm->last_heard_ms : sm->start_ms;

	return sm->config.degraded_silence_ms != 0 &&
	       now_ms > since + sm->config.degraded_silence_ms;
}

/* Without a stream: Degraded once silent past the threshold (named), else
 * `state`. Keeps a disconnected mirror from cycling Connecting /
 * Disconnected while nothing is heard for minutes. */
static void unlinked_state(struct mirror_sm *sm, uint64_t now_ms,
                           enum mirror_state state)
{
	struct mirror_status *st = &sm->status;

	st->lag_known = false;
	if (!silent(sm, now_ms)) {
		st->state = state;
		return;
	}
	if (st->state != MIRROR_DEGRADED) {
		char prev[sizeof st->error];

		snprintf(prev, sizeof prev, "%s", st->error);
		snprintf(st->error, sizeof st->error,
		         "nothing heard from the source for %" PRIu64
		         " ms%s%.200s",
		         st->last_contact_age_ms, prev[0] ? ": " : "", prev);
	}
	st->state = MIRROR_DEGRADED;
}

void mirror_sm_connecting(struct mirror_sm *sm, uint64_t now_ms)
{
	if (terminal(sm))
		return;
	clock_in(sm, now_ms);
	sm->linked = false;
	unlinked_state(sm, now_ms, MIRROR_CONNECTING);
}

void mirror_sm_connected(struct mirror_sm *sm, uint64_t now_ms)
{
	if (terminal(sm))
		return;
	clock_in(sm, now_ms);
	sm->linked = true;
	/* Another endpoint (or the same one later): its clock and its
	 * announcements are not comparable with the samples kept. */
	sm->lag_head = sm->lag_len = 0;
	sm->newest_source_time_ms = INT64_MIN;
	sm->status.lag_known = false;
	/* Until the source tells its commit index we cannot claim Following. */
	sm->status.state = MIRROR_CATCHING_UP;
	sm->caught_up = false;
}

/* Progress resets the backoff (and only progress: see
 * mirror_sm_connected). */
static void progressed(struct mirror_sm *sm)
{
	sm->attempt = 0;
}

void mirror_sm_bootstrap_progress(struct mirror_sm *sm, uint64_t now_ms,
                                  uint64_t bytes_done, uint64_t bytes_total)
{
	struct mirror_status *st = &sm->status;

	if (terminal(sm))
		return;
	heard(sm, now_ms);
	if (bytes_done > sm->progress_bytes) {
		/* A resume at the durable offset is no progress; bytes past
		 * the most ever durable for this snapshot are. */
		if (sm->progress_bytes != 0 ||
		    st->state == MIRROR_BOOTSTRAPPING)
			progressed(sm);
		sm->progress_bytes = bytes_done;
	}
	if (st->state != MIRROR_BOOTSTRAPPING) {
		st->state = MIRROR_BOOTSTRAPPING;
		sm->rate_mark_ms = now_ms;
		sm->rate_mark_bytes = bytes_done;
		st->rate_bytes_per_s = 0;
		/* A new receive (a resume, or a restart from 0 after the
		 * source sent bad data) starts from what is on disk. */
		st->bytes_done = bytes_done;
	}
	/* bytes_done is reported monotonic even if a caller repeats itself. */
	if (bytes_done > st->bytes_done || st->bytes_total != bytes_total)
		st->bytes_done = bytes_done;
	st->bytes_total = bytes_total;
	/* Rate over the current window (at least 100 ms, so a bootstrap
	 * shorter than a second still reports one); the window restarts
	 * every second so the figure follows the current speed. */
	if (now_ms >= sm->rate_mark_ms + 100) {
		uint64_t dt = now_ms - sm->rate_mark_ms;
		st->rate_bytes_per_s =
		    (st->bytes_done - sm->rate_mark_bytes) * 1000 / dt;
		if (dt >= 1000) {
			sm->rate_mark_ms = now_ms;
			sm->rate_mark_bytes = st->bytes_done;
		}
	}
}

/* Drops lag samples the mirror has caught up with. */
static void lag_trim(struct mirror_sm *sm)
{
	while (sm->lag_len > 0 &&
	       sm->lag[sm->lag_head].commit_index <= sm->status.applied_index) {
		sm->lag_head = (sm->lag_head + 1) % MIRROR_LAG_SAMPLES;
		sm->lag_len--;
	}
}

static void update_lag(struct mirror_sm *sm)
{
	struct mirror_status *st = &sm->status;

	lag_trim(sm);
	st->lag_entries = st->source_commit_index > st->applied_index
	                      ? st->source_commit_index - st->applied_index
	                      : 0;
	if (sm->lag_len == 0 || st->lag_entries == 0) {
		st->lag_ms = 0;
		return;
	}
	/* Source clocks are the peer's word: any int64 may come, so the
	 * difference saturates rather than overflows. */
	int64_t a = sm->newest_source_time_ms;
	int64_t b = sm->lag[sm->lag_head].source_time_ms;
	if (a <= b)
		st->lag_ms = 0;
	else if (b < 0 && a > INT64_MAX + b)
		st->lag_ms = (uint64_t)INT64_MAX;
	else
		st->lag_ms = (uint64_t)(a - b);
}

/* Past a Degraded threshold: true with the reason in why (the state's
 * error then names it). */
static bool over_threshold(const struct mirror_sm *sm, uint64_t now_ms,
                           char *why, size_t whylen)
{
	const struct mirror_state_config *c = &sm->config;
	const struct mirror_status *st = &sm->status;

	if (silent(sm, now_ms)) {
		snprintf(why, whylen,
		         "nothing heard from the source for %" PRIu64
		         " ms (degraded_silence %" PRIu32 " ms)",
		         st->last_contact_age_ms, c->degraded_silence_ms);
		return true;
	}
	if (sm->source_stale) {
		snprintf(why, whylen, "%s", sm->source_stale_why);
		return true;
	}
	if (c->degraded_lag_entries != 0 &&
	    st->lag_entries > c->degraded_lag_entries) {
		snprintf(why, whylen,
		         "%" PRIu64 " entries behind the source "
		         "(degraded_lag_entries %" PRIu64 ")",
		         st->lag_entries, c->degraded_lag_entries);
		return true;
	}
	if (c->degraded_lag_ms != 0 && st->lag_ms > c->degraded_lag_ms) {
		snprintf(why, whylen,
		         "%" PRIu64 " ms behind the source "
		         "(degraded_lag_time %" PRIu32 " ms)",
		         st->lag_ms, c->degraded_lag_ms);
		return true;
	}
	if (c->degraded_headroom_ms != 0 && st->retention_headroom_known &&
	    st->retention_headroom_s < c->degraded_headroom_ms / 1000) {
		snprintf(
		    why, whylen,
		    "the source's retention keeps this mirror's position "
		    "for %" PRIu64 " s more (degraded_headroom %" PRIu64 " s)",
		    st->retention_headroom_s, c->degraded_headroom_ms / 1000);
		return true;
	}
	return false;
}

/* Picks CatchingUp / Following / Degraded once connected and past the
 * bootstrap. */
static void settle(struct mirror_sm *sm, uint64_t now_ms)
{
	struct mirror_status *st = &sm->status;

	clock_in(sm, now_ms);
	if (!sm->linked) {
		if (st->state == MIRROR_CONNECTING ||
		    st->state == MIRROR_DISCONNECTED ||
		    st->state == MIRROR_DEGRADED)
			unlinked_state(sm, now_ms,
			               st->state == MIRROR_DEGRADED
			                   ? MIRROR_DISCONNECTED
			                   : st->state);
		return;
	}
	if (st->state != MIRROR_CATCHING_UP && st->state != MIRROR_FOLLOWING &&
	    st->state != MIRROR_DEGRADED)
		return;
	update_lag(sm);
	if (!sm->caught_up && st->source_commit_index != 0 &&
	    st->applied_index >= st->source_commit_index)
		sm->caught_up = true;
	if (!sm->caught_up) {
		st->state = MIRROR_CATCHING_UP;
		return;
	}
	char why[sizeof st->error];
	if (over_threshold(sm, now_ms, why, sizeof why)) {
		st->state = MIRROR_DEGRADED;
		snprintf(st->error, sizeof st->error, "%s", why);
	} else {
		st->state = MIRROR_FOLLOWING;
	}
}

void mirror_sm_bootstrap_done(struct mirror_sm *sm, uint64_t now_ms,
                              uint64_t index)
{
	if (terminal(sm))
		return;
	if (index > sm->status.applied_index)
		progressed(sm);
	sm->status.applied_index = index;
	sm->status.bytes_done = sm->status.bytes_total;
	sm->status.state = MIRROR_CATCHING_UP;
	sm->caught_up = false;
	sm->progress_bytes = 0;
	heard(sm, now_ms);
	settle(sm, now_ms);
}

void mirror_sm_applied(struct mirror_sm *sm, uint64_t now_ms, uint64_t index)
{
	if (terminal(sm))
		return;
	if (index > sm->status.applied_index) {
		sm->status.applied_index = index;
		progressed(sm);
		heard(sm, now_ms); /* only new entries are a word */
	}
	if (index > sm->status.source_commit_index)
		sm->status.source_commit_index = index;
	settle(sm, now_ms);
}

void mirror_sm_heartbeat(struct mirror_sm *sm, uint64_t now_ms,
                         uint64_t commit_index, int64_t source_time_ms)
{
	struct mirror_status *st = &sm->status;

	if (terminal(sm))
		return;
	heard(sm, now_ms);
	st->lag_known = sm->linked;
	if (commit_index > st->source_commit_index)
		st->source_commit_index = commit_index;
	if (source_time_ms > sm->newest_source_time_ms)
		sm->newest_source_time_ms = source_time_ms;
	if (commit_index > st->applied_index) {
		/* Remember when (source clock) this commit index was first
		 * announced; a full ring keeps the oldest samples, which
		 * bounds lag_ms from below rather than losing it. */
		unsigned last =
		    (sm->lag_head + sm->lag_len + MIRROR_LAG_SAMPLES - 1) %
		    MIRROR_LAG_SAMPLES;
		bool newer = sm->lag_len == 0 ||
		             commit_index > sm->lag[last].commit_index;
		if (newer && sm->lag_len < MIRROR_LAG_SAMPLES) {
			unsigned slot =
			    (sm->lag_head + sm->lag_len) % MIRROR_LAG_SAMPLES;
			sm->lag[slot].commit_index = commit_index;
			sm->lag[slot].source_time_ms = source_time_ms;
			sm->lag_len++;
		}
	}
	settle(sm, now_ms);
}

void mirror_sm_source_commit(struct mirror_sm *sm, uint64_t commit_index)
{
	if (commit_index > sm->status.source_commit_index)
		sm->status.source_commit_index = commit_index;
}

/* Retention headroom: the source's figure, less the time since. */
void mirror_sm_headroom(struct mirror_sm *sm, uint64_t now_ms,
                        uint64_t headroom_s)
{
	sm->headroom_s = headroom_s;
	sm->headroom_at_ms = now_ms;
	sm->status.retention_headroom_known = true;
	sm->status.retention_headroom_s = headroom_s;
}

void mirror_sm_headroom_unknown(struct mirror_sm *sm)
{
	sm->status.retention_headroom_known = false;
	sm->status.retention_headroom_s = 0;
}

static void headroom_count_down(struct mirror_sm *sm, uint64_t now_ms)
{
	uint64_t gone = now_ms > sm->headroom_at_ms
	                    ? (now_ms - sm->headroom_at_ms) / 1000
	                    : 0;

	if (sm->status.retention_headroom_known)
		sm->status.retention_headroom_s =
		    sm->headroom_s > gone ? sm->headroom_s - gone : 0;
}

void mirror_sm_tick(struct mirror_sm *sm, uint64_t now_ms)
{
	if (terminal(sm))
		return;
	headroom_count_down(sm, now_ms);
	settle(sm, now_ms);
}

static uint64_t next_random(struct mirror_sm *sm)
{
	uint64_t x = sm->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	sm->rng = x;
	return x;
}

/* The next delay of the exponential backoff (jittered). */
static uint32_t backoff(struct mirror_sm *sm, uint64_t now_ms)
{
	uint64_t d;

	/* A failure long after the last one is not part of a loop. */
	if (sm->last_failure_ms != 0 &&
	    now_ms >=
	        sm->last_failure_ms + 4 * (uint64_t)sm->config.backoff_max_ms)
		sm->attempt = 0;
	sm->last_failure_ms = now_ms != 0 ? now_ms : 1;
	d = sm->config.backoff_min_ms;
	for (uint32_t i = 0; i < sm->attempt && d < sm->config.backoff_max_ms;
	     i++)
		d *= 2;
	if (d > sm->config.backoff_max_ms)
		d = sm->config.backoff_max_ms;
	if (sm->attempt < 64)
		sm->attempt++;
	/* Full jitter over the upper half keeps mirrors that lost the same
	 * source from reconnecting in lockstep, yet never waits less than
	 * half the nominal delay. */
	sm->status.retry_ms =
	    (uint32_t)(d / 2 + next_random(sm) % (d - d / 2 + 1));
	return sm->status.retry_ms;
}

static uint32_t unlink_failed(struct mirror_sm *sm, uint64_t now_ms,
                              const char *reason)
{
	struct mirror_status *st = &sm->status;

	clock_in(sm, now_ms);
	sm->linked = false;
	st->reconnects++;
	snprintf(st->error, sizeof st->error, "%s", reason ? reason : "");
	/* Named freshly: the silence prefix, if any, is set again. */
	st->state = MIRROR_DISCONNECTED;
	unlinked_state(sm, now_ms, MIRROR_DISCONNECTED);
	return backoff(sm, now_ms);
}

void mirror_sm_freshest(struct mirror_sm *sm, uint64_t now_ms,
                        uint64_t commit_index)
{
	if (terminal(sm) || commit_index <= sm->status.source_commit_index)
		return;
	sm->status.source_commit_index = commit_index;
	settle(sm, now_ms);
}

void mirror_sm_source_stale(struct mirror_sm *sm, bool stale, const char *why)
{
	sm->source_stale = stale;
	snprintf(sm->source_stale_why, sizeof sm->source_stale_why, "%s",
	         stale && why != NULL ? why : "");
}

uint32_t mirror_sm_disconnected(struct mirror_sm *sm, uint64_t now_ms,
                                const char *reason)
{
	if (terminal(sm))
		return 0;
	sm->status.endpoint =
	    (sm->status.endpoint + 1) % sm->config.endpoint_count;
	return unlink_failed(sm, now_ms, reason);
}

uint32_t mirror_sm_stream_failed(struct mirror_sm *sm, uint64_t now_ms,
                                 const char *reason)
{
	if (terminal(sm))
		return 0;
	return unlink_failed(sm, now_ms, reason);
}

void mirror_sm_fatal(struct mirror_sm *sm, int code, const char *reason)
{
	sm->status.state = MIRROR_ERROR;
	sm->status.error_code = code;
	snprintf(sm->status.error, sizeof sm->status.error, "%s",
	         reason ? reason : "");
}

void mirror_sm_promoted(struct mirror_sm *sm, uint64_t index, uint64_t term,
                        const char *reason)
{
	struct mirror_status *st = &sm->status;

	if (terminal(sm))
		return;
	st->state = MIRROR_PROMOTED;
	st->promoted_index = index;
	st->promoted_term = term;
	st->applied_index = index;
	st->lag_known = false;
	st->retention_headroom_known = false;
	st->retention_headroom_s = 0;
	sm->linked = false;
	snprintf(st->error, sizeof st->error, "%s", reason ? reason : "");
}
