#include "agent/follow/mirror_state.h"

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
	return sm->status.state == MIRROR_ERROR;
}

void mirror_sm_connecting(struct mirror_sm *sm, uint64_t now_ms)
{
	if (terminal(sm))
		return;
	sm->status.state = MIRROR_CONNECTING;
	sm->last_heard_ms = now_ms;
}

void mirror_sm_connected(struct mirror_sm *sm, uint64_t now_ms)
{
	if (terminal(sm))
		return;
	sm->attempt = 0;
	sm->last_heard_ms = now_ms;
	/* Until the source tells its commit index we cannot claim Following. */
	sm->status.state = MIRROR_CATCHING_UP;
	sm->caught_up = false;
}

void mirror_sm_bootstrap_progress(struct mirror_sm *sm, uint64_t now_ms,
                                  uint64_t bytes_done, uint64_t bytes_total)
{
	struct mirror_status *st = &sm->status;

	if (terminal(sm))
		return;
	if (st->state != MIRROR_BOOTSTRAPPING) {
		st->state = MIRROR_BOOTSTRAPPING;
		sm->rate_mark_ms = now_ms;
		sm->rate_mark_bytes = bytes_done;
		st->rate_bytes_per_s = 0;
		/* A new receive (a resume, or a restart from 0 after the
		 * source sent bad data) starts from what is on disk. */
		st->bytes_done = bytes_done;
	}
	sm->last_heard_ms = now_ms;
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
	int64_t d =
	    sm->newest_source_time_ms - sm->lag[sm->lag_head].source_time_ms;
	st->lag_ms = d > 0 ? (uint64_t)d : 0;
}

static bool over_threshold(const struct mirror_sm *sm, uint64_t now_ms)
{
	const struct mirror_state_config *c = &sm->config;
	const struct mirror_status *st = &sm->status;

	if (c->degraded_silence_ms != 0 &&
	    now_ms > sm->last_heard_ms + c->degraded_silence_ms)
		return true;
	if (c->degraded_lag_entries != 0 &&
	    st->lag_entries > c->degraded_lag_entries)
		return true;
	if (c->degraded_lag_ms != 0 && st->lag_ms > c->degraded_lag_ms)
		return true;
	if (c->degraded_headroom_ms != 0 && st->retention_headroom_known &&
	    st->retention_headroom_s < c->degraded_headroom_ms / 1000)
		return true;
	return false;
}

/* Picks CatchingUp / Following / Degraded once connected and past the
 * bootstrap. */
static void settle(struct mirror_sm *sm, uint64_t now_ms)
{
	struct mirror_status *st = &sm->status;

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
	st->state =
	    over_threshold(sm, now_ms) ? MIRROR_DEGRADED : MIRROR_FOLLOWING;
}

void mirror_sm_bootstrap_done(struct mirror_sm *sm, uint64_t now_ms,
                              uint64_t index)
{
	if (terminal(sm))
		return;
	sm->status.applied_index = index;
	sm->status.bytes_done = sm->status.bytes_total;
	sm->status.state = MIRROR_CATCHING_UP;
	sm->caught_up = false;
	sm->last_heard_ms = now_ms;
	settle(sm, now_ms);
}

void mirror_sm_applied(struct mirror_sm *sm, uint64_t now_ms, uint64_t index)
{
	if (terminal(sm))
		return;
	if (index > sm->status.applied_index)
		sm->status.applied_index = index;
	if (index > sm->status.source_commit_index)
		sm->status.source_commit_index = index;
	sm->last_heard_ms = now_ms;
	settle(sm, now_ms);
}

void mirror_sm_heartbeat(struct mirror_sm *sm, uint64_t now_ms,
                         uint64_t commit_index, int64_t source_time_ms)
{
	struct mirror_status *st = &sm->status;

	if (terminal(sm))
		return;
	sm->last_heard_ms = now_ms;
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

/* Retention headroom: the source's figure, less the time since. */
void mirror_sm_headroom(struct mirror_sm *sm, uint64_t now_ms,
                        uint64_t headroom_s)
{
	sm->headroom_s = headroom_s;
	sm->headroom_at_ms = now_ms;
	sm->status.retention_headroom_known = true;
	sm->status.retention_headroom_s = headroom_s;
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

uint32_t mirror_sm_disconnected(struct mirror_sm *sm, uint64_t now_ms,
                                const char *reason)
{
	struct mirror_status *st = &sm->status;
	uint64_t d;

	(void)now_ms;
	if (terminal(sm))
		return 0;
	st->state = MIRROR_DISCONNECTED;
	st->reconnects++;
	st->endpoint = (st->endpoint + 1) % sm->config.endpoint_count;
	snprintf(st->error, sizeof st->error, "%s", reason ? reason : "");
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
	return (uint32_t)(d / 2 + next_random(sm) % (d - d / 2 + 1));
}

void mirror_sm_fatal(struct mirror_sm *sm, int code, const char *reason)
{
	sm->status.state = MIRROR_ERROR;
	sm->status.error_code = code;
	snprintf(sm->status.error, sizeof sm->status.error, "%s",
	         reason ? reason : "");
}
