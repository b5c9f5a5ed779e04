/* The mirror's view of its source endpoints (source_view.h): positions,
 * leader contact and probe results per endpoint, and the rules that move
 * the mirror off a stale endpoint. No clock, no socket. */
#include "agent/follow/source_view.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"

void source_view_init(struct source_view *v,
                      const struct source_view_config *cfg)
{
	memset(v, 0, sizeof *v);
	v->cfg = *cfg;
	if (v->cfg.endpoint_count == 0)
		v->cfg.endpoint_count = 1;
	if (v->cfg.endpoint_count > SOURCE_VIEW_MAX)
		v->cfg.endpoint_count = SOURCE_VIEW_MAX;
}

void source_view_set_current(struct source_view *v, uint32_t ep, uint64_t now)
{
	(void)now;
	if (ep >= v->cfg.endpoint_count)
		return;
	if (ep != v->current)
		v->behind_since = 0;
	v->current = ep;
}

void source_view_observe(struct source_view *v, uint32_t ep,
                         uint64_t commit_index,
                         const struct proto_freshness *fresh, uint64_t now)
{
	struct source_endpoint_view *e;

	if (ep >= v->cfg.endpoint_count)
		return;
	e = &v->ep[ep];
	e->observed = true;
	e->observed_at = now;
	e->commit_index = commit_index;
	if (fresh != NULL)
		e->fresh = *fresh;
	else
		memset(&e->fresh, 0, sizeof e->fresh);
	e->probe = SOURCE_PROBE_OK;
	e->probe_at = now;
	e->probe_error[0] = '\0';
}

void source_view_probe_failed(struct source_view *v, uint32_t ep,
                              enum source_probe_result result, const char *why,
                              uint64_t now)
{
	struct source_endpoint_view *e;

	if (ep >= v->cfg.endpoint_count)
		return;
	e = &v->ep[ep];
	e->probe = result;
	e->probe_at = now;
	snprintf(e->probe_error, sizeof e->probe_error, "%.150s",
	         why ? why : "");
}

int source_view_probe_answer(struct source_view *v, uint32_t ep,
                             const char *cluster_id, const char *database,
                             const void *body, size_t len, uint64_t now,
                             char *errmsg)
{
	struct proto_framer fr;
	struct proto_info info;
	const void *frame;
	size_t flen, used;
	char em[MA_ERRMSG_SIZE];
	int rc;

	rc = proto_framer_init(&fr, PROTO_FRAME_OVERHEAD);
	if (rc != 0)
		return ma_errorf(errmsg, rc, "out of memory");
	rc = proto_framer_feed(&fr, body, len, &used, &frame, &flen, em);
	if (rc == 1)
		rc = proto_info_decode(frame, flen, &info, em);
	else if (rc == 0)
		rc = ma_errorf(em, MA_ERR_PROTO,
		               "info answer of %zu bytes holds no whole frame",
		               len);
	proto_framer_free(&fr);
	if (rc != 0) {
		source_view_probe_failed(v, ep, SOURCE_PROBE_FAILED, em, now);
		return ma_errorf(errmsg, rc, "%s", em);
	}
	if ((cluster_id != NULL && cluster_id[0] != '\0' &&
	     strcasecmp(cluster_id, info.id.cluster_id) != 0) ||
	    (database != NULL && strcmp(database, info.id.database_id) != 0)) {
		snprintf(em, sizeof em,
		         "answers for %s/%s, not this mirror's source",
		         info.id.cluster_id, info.id.database_id);
		source_view_probe_failed(v, ep, SOURCE_PROBE_FOREIGN, em, now);
		return ma_errorf(errmsg, MA_ERR_IDENTITY, "%s", em);
	}
	/* An index past 2^63-1 is nobody's position (follow_core refuses it
	 * from the followed node too): it would win every comparison. */
	if (info.commit_index > (uint64_t)INT64_MAX) {
		snprintf(em, sizeof em,
		         "announces commit index %" PRIu64 ", beyond %" PRId64,
		         info.commit_index, INT64_MAX);
		source_view_probe_failed(v, ep, SOURCE_PROBE_FAILED, em, now);
		return ma_errorf(errmsg, MA_ERR_PROTO, "%s", em);
	}
	source_view_observe(v, ep, info.commit_index, &info.fresh, now);
	return 0;
}

static bool current_obs(const struct source_view *v,
                        const struct source_endpoint_view *e, uint64_t now)
{
	return e->observed && e->probe == SOURCE_PROBE_OK &&
	       now - e->observed_at <= v->cfg.stale_ms;
}

uint64_t source_view_freshest(const struct source_view *v, uint64_t now)
{
	uint64_t best = 0;

	for (uint32_t i = 0; i < v->cfg.endpoint_count; i++)
		if (current_obs(v, &v->ep[i], now) &&
		    v->ep[i].commit_index > best)
			best = v->ep[i].commit_index;
	return best;
}

bool source_view_leader_contact_age(const struct source_view *v, uint32_t ep,
                                    uint64_t now, uint64_t *age_ms)
{
	const struct source_endpoint_view *e;

	if (ep >= v->cfg.endpoint_count)
		return false;
	e = &v->ep[ep];
	if (!e->observed || !e->fresh.known || !e->fresh.has_contact)
		return false;
	/* A node that knows a leader is in touch with it (libraft's
	 * followers give up on a silent leader within an election
	 * timeout): its figure stands until the next answer. A node that
	 * knows none is silent since its last contact, and stays so. */
	*age_ms = e->fresh.leader_contact_age_ms;
	if (e->fresh.leader == PROTO_LEADER_NONE)
		*age_ms += now - e->observed_at;
	return true;
}

/* The node of ep has not heard from a leader for longer than the limit
 * (why says so). Unknown freshness (an older source) is never stale. */
static bool leader_stale(const struct source_view *v, uint32_t ep, uint64_t now,
                         char *why, size_t whylen)
{
	const struct source_endpoint_view *e = &v->ep[ep];
	uint64_t age;

	if (v->cfg.leader_silence_ms == 0 || !e->observed || !e->fresh.known)
		return false;
	if (!source_view_leader_contact_age(v, ep, now, &age)) {
		if (e->fresh.leader != PROTO_LEADER_NONE)
			return false;
		snprintf(why, whylen, "its node has never heard from a leader");
		return true;
	}
	if (age <= v->cfg.leader_silence_ms)
		return false;
	snprintf(why, whylen,
	         "its node has not heard from a leader for %" PRIu64
	         " ms (source_leader_silence %" PRIu64 " ms)",
	         age, v->cfg.leader_silence_ms);
	return true;
}

bool source_view_decide(struct source_view *v, uint64_t now, uint32_t *target,
                        char *why, size_t whylen)
{
	const struct source_endpoint_view *cur = &v->ep[v->current];
	char cause[200];
	uint64_t freshest = source_view_freshest(v, now);
	bool silent, behind;
	uint32_t best = UINT32_MAX;

	v->stale = false;
	v->stale_why[0] = '\0';
	cause[0] = '\0';
	if (!cur->observed)
		return false; /* nothing known of it yet */
	silent = leader_stale(v, v->current, now, cause, sizeof cause);
	behind = v->cfg.lag_entries != 0 &&
	         freshest > cur->commit_index + v->cfg.lag_entries;
	if (!behind)
		v->behind_since = 0;
	else if (v->behind_since == 0)
		v->behind_since = now != 0 ? now : 1;
	if (behind && !silent) {
		if (now - v->behind_since < v->cfg.lag_grace_ms)
			return false;
		snprintf(cause, sizeof cause,
		         "it is %" PRIu64 " entries behind the freshest "
		         "endpoint for %" PRIu64
		         " ms (source_lag_entries %" PRIu64 ")",
		         freshest - cur->commit_index, now - v->behind_since,
		         v->cfg.lag_entries);
	}
	if (!silent && !behind)
		return false;
	for (uint32_t i = 0; i < v->cfg.endpoint_count; i++) {
		const struct source_endpoint_view *e = &v->ep[i];
		char ignore[200];

		if (i == v->current || !current_obs(v, e, now) ||
		    leader_stale(v, i, now, ignore, sizeof ignore))
			continue;
		/* Moving must gain something: past the lag rule for a lagging
		 * endpoint, at least as far along for a leaderless one. */
		if (!silent &&
		    e->commit_index <= cur->commit_index + v->cfg.lag_entries)
			continue;
		if (silent && e->commit_index < cur->commit_index)
			continue;
		if (best == UINT32_MAX ||
		    e->commit_index > v->ep[best].commit_index)
			best = i;
	}
	if (best == UINT32_MAX) {
		v->stale = true;
		snprintf(v->stale_why, sizeof v->stale_why,
		         "the followed source is stale (%s) and no other "
		         "endpoint is fresh",
		         cause);
		return false;
	}
	if (v->moved_at != 0 && now - v->moved_at < v->cfg.hold_ms)
		return false; /* hysteresis: bounded flapping */
	snprintf(why, whylen,
	         "moving from endpoint %" PRIu32 " to endpoint %" PRIu32
	         " (commit index %" PRIu64 " vs %" PRIu64 "): %s",
	         v->current, best, v->ep[best].commit_index, cur->commit_index,
	         cause);
	snprintf(v->last_switch, sizeof v->last_switch, "%s", why);
	*target = best;
	v->current = best;
	v->moved_at = now != 0 ? now : 1;
	v->behind_since = 0;
	v->switches++;
	return true;
}
