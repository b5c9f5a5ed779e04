/* Feeding the mirror's read-only state (agent/apply/applier.h) from its
 * local wal, for the follow core (follow_core.h): durable entries only,
 * so the applied index a reader sees never goes backwards, even across a
 * crash of the mirror (docs/OPERATIONS.md, "Reading from the mirror").
 * No clock and no socket: it reads the wal and the snapshot store. */
#ifndef MIRROR_AGENT_FOLLOW_APPLY_H
#define MIRROR_AGENT_FOLLOW_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct applier;
struct snapshot_store;
struct wal_log;
struct wal_reader;

struct follow_apply_job; /* a restore in flight (follow_apply.c) */

struct follow_apply {
	struct applier *applier;   /* NULL: none configured */
	struct wal_reader *reader; /* reads the wal in order; opened lazily */
	const char *name;          /* the database, for messages */
	/* Payload bytes applied since the process started (the byte
	 * cadence of checkpoints, follow_checkpoint.h). */
	uint64_t applied_bytes;
	/* Restore snapshots on a helper thread (the daemon): the loop goes
	 * on answering status, and reads answer 503 "restoring" until
	 * follow_apply_poll adopts the state. false: restore inline (tests,
	 * the simulation: deterministic). */
	bool restore_async;
	struct follow_apply_job *job;
	/* Superseded restores still winding down (told to stop; freed by
	 * follow_apply_poll once finished, waited for by close). */
	struct follow_apply_job *retired;
	size_t retired_count;
	/* Superseded restores that stopped at a cancel check (MA_ERR_AGAIN)
	 * rather than running to the end. */
	uint64_t cancelled;
	/* The snapshot index of the last restore (0: empty state): where
	 * the checkpoint cadence counts from. */
	uint64_t restored_index;
};

/* Applies every entry of wal that is durable and not yet applied (wal
 * NULL: nothing yet). An applier failure fails the applier (queries answer
 * it) and never the mirror. Returns true when the applied index moved
 * (the glue tells on_applied). */
bool follow_apply_durable(struct follow_apply *fa, struct wal_log *wal);
/* Restores the applier from the newest snapshot of store (store NULL or
 * empty: the empty state), then replays the durable wal after it.
 * Returns true when there is an applier (it always changed). */
bool follow_apply_restore(struct follow_apply *fa, struct snapshot_store *store,
                          struct wal_log *wal);
/* With restore_async: adopts a finished restore and replays the durable
 * wal after it. Returns true when the applier changed. The glue's timer
 * calls it. */
bool follow_apply_poll(struct follow_apply *fa, struct wal_log *wal);
/* True while a restore runs on the helper thread. */
bool follow_apply_restoring(const struct follow_apply *fa);
/* Superseded restores not yet finished: a restore started while another
 * is in flight does not wait for the older one (which would stop the
 * loop for as long as it takes) but tells it to stop between records and
 * frees it when it has. Past FOLLOW_APPLY_RETIRED_MAX the next
 * supersession waits for them. */
#define FOLLOW_APPLY_RETIRED_MAX 4
size_t follow_apply_retired(const struct follow_apply *fa);
/* How many superseded restores stopped early when told to. */
uint64_t follow_apply_cancelled(const struct follow_apply *fa);
/* Stops a restore in flight (and any superseded one) and waits for them,
 * closes the reader and frees the applier. */
void follow_apply_close(struct follow_apply *fa);

#endif
