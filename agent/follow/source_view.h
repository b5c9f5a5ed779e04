/* The mirror's view of every configured source endpoint of one database
 * (sans-I/O: no socket, no clock; every call takes `now`, monotonic ms).
 *
 * Fed by what the followed endpoint says (its info answer and every log
 * heartbeat) and by probes of the other endpoints (a short GET info the
 * glue sends every source_probe_interval, one endpoint at a time), it
 * keeps per endpoint the last commit index the endpoint can serve, what
 * its node knows of the cluster's leader (proto.h "Freshness"), and the
 * last probe's time and result. From that it answers:
 *
 *  - the freshest commit index known (lag is computed against it, not
 *    only against the followed endpoint's);
 *  - whether to move off the followed endpoint (source_view_decide):
 *      stale-leader  its node has not heard from a leader for more than
 *                    leader_silence_ms (or knows none), or
 *      behind        it is more than lag_entries behind the freshest
 *                    endpoint for longer than lag_grace_ms,
 *    and another endpoint is fresh: observed within stale_ms, not
 *    stale-leader itself, and strictly fresher (for "behind": more than
 *    lag_entries ahead of the followed one). The move goes to the fresh
 *    endpoint with the highest commit index (ties: the lowest number);
 *  - when the followed endpoint is stale and no endpoint is fresh, the
 *    reason (the mirror is Degraded with it).
 * Flapping is bounded: after a move no other move is proposed for
 * hold_ms, and the "behind" grace restarts on every move. */
#ifndef MIRROR_AGENT_SOURCE_VIEW_H
#define MIRROR_AGENT_SOURCE_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

#define SOURCE_VIEW_MAX 16

struct source_view_config {
	uint32_t endpoint_count; /* 1..SOURCE_VIEW_MAX */
	/* Behind the freshest by more than this many entries ... */
	uint64_t lag_entries; /* 0: no lag rule */
	/* ... for longer than this: move. */
	uint64_t lag_grace_ms;
	/* The node has not heard from a leader for longer than this. 0: no
	 * leader rule. */
	uint64_t leader_silence_ms;
	/* An observation older than this says nothing current. */
	uint64_t stale_ms;
	/* No second move within this long after one. */
	uint64_t hold_ms;
};

enum source_probe_result {
	SOURCE_PROBE_NONE = 0, /* never probed / observed */
	SOURCE_PROBE_OK,
	SOURCE_PROBE_FAILED,  /* unreachable, error answer, bad frame */
	SOURCE_PROBE_FOREIGN, /* answers for another cluster or database */
};

struct source_endpoint_view {
	bool observed;                /* some answer carried a position */
	uint64_t observed_at;         /* now of that answer */
	uint64_t commit_index;        /* what the endpoint can serve */
	struct proto_freshness fresh; /* as of observed_at */
	uint64_t probe_at;            /* now of the last probe result */
	enum source_probe_result probe;
	char probe_error[160];
};

struct source_view {
	struct source_view_config cfg;
	struct source_endpoint_view ep[SOURCE_VIEW_MAX];
	uint32_t current;      /* the followed endpoint */
	uint64_t behind_since; /* 0: not behind */
	uint64_t moved_at;     /* now of the last move (0: none) */
	uint64_t switches;     /* moves proposed and taken */
	char last_switch[256]; /* the reason of the last move */
	bool stale;            /* the followed endpoint is stale ... */
	char stale_why[256];   /* ... and no endpoint is fresh: why */
};

/* Zeroes v with cfg (endpoint_count clamped to 1..SOURCE_VIEW_MAX). */
void source_view_init(struct source_view *v,
                      const struct source_view_config *cfg);
/* The followed endpoint changed (any reason): the grace restarts. */
void source_view_set_current(struct source_view *v, uint32_t ep, uint64_t now);
/* An answer of endpoint ep (an info, a heartbeat, a probe): the commit
 * index it can serve and its node's freshness (fresh->known false:
 * unknown). */
void source_view_observe(struct source_view *v, uint32_t ep,
                         uint64_t commit_index,
                         const struct proto_freshness *fresh, uint64_t now);
/* A probe of ep failed (why: what). */
void source_view_probe_failed(struct source_view *v, uint32_t ep,
                              enum source_probe_result result, const char *why,
                              uint64_t now);
/* The whole body of a probe's 200 answer (framed info): decodes it,
 * checks it names cluster_id (NULL or "": any) and database, and
 * observes it. 0, or MA_ERR_PROTO / MA_ERR_IDENTITY (recorded as the
 * probe's failure, errmsg says what). */
int source_view_probe_answer(struct source_view *v, uint32_t ep,
                             const char *cluster_id, const char *database,
                             const void *body, size_t len, uint64_t now,
                             char *errmsg);

/* The highest commit index observed within stale_ms (0: none). */
uint64_t source_view_freshest(const struct source_view *v, uint64_t now);
/* The age of ep's node's last leader contact at now, in ms; false when
 * unknown (no freshness heard, or the node never heard from a leader). */
bool source_view_leader_contact_age(const struct source_view *v, uint32_t ep,
                                    uint64_t now, uint64_t *age_ms);

/* Evaluates the rules at now. Returns true with *target and why set when
 * the mirror should move to *target now (the move is counted and the
 * view's current becomes *target). Otherwise false; v->stale and
 * v->stale_why then say whether the followed endpoint is stale with no
 * fresh endpoint to move to. */
bool source_view_decide(struct source_view *v, uint64_t now, uint32_t *target,
                        char *why, size_t whylen);

#endif
