/* The simulation harness (see sim.h). */
#include "tests/sim/sim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/apply/applier.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "spool/spool.h"
#include "wal/wal.h"

/* Rounds of drain + run after one event before the core is said to
 * loop. */
#define DRAIN_ROUNDS 32
#define TICK_MS 100
#define STEPS_MAX 20000000u

enum ev_type {
	EV_CONNECT,
	EV_CONNECT_DONE,
	EV_STATUS,
	EV_BODY,
	EV_END,
	EV_RESET,
	EV_PUMP,
	EV_HEARTBEAT,
	EV_TICK,
	EV_CUT,
	EV_WORK, /* follow_core_run for cores with local work (busy) */
	EV_SYNC, /* follow_core_sync at the wal's group commit deadline */
};

struct sim_event {
	uint64_t time, seq;
	enum ev_type type;
	uint64_t gen, stream;
	int status;
	uint8_t *data;
	size_t len;
};

/* A stream's key in the harness: the database's index in the top byte,
 * the core's own stream number below (cores number independently). */
#define KEY_DB_SHIFT 56

static uint64_t stream_key(size_t db, uint64_t id)
{
	return (uint64_t)db << KEY_DB_SHIFT | id;
}

static size_t key_db(uint64_t key)
{
	return (size_t)(key >> KEY_DB_SHIFT);
}

static uint64_t key_id(uint64_t key)
{
	return key & ((UINT64_C(1) << KEY_DB_SHIFT) - 1);
}

struct sim_stream {
	uint64_t id; /* stream_key() */
	struct sim_response *resp;
	uint64_t last_delivery;
	bool done_queued;
	bool snapshot;
	bool hb_pending;
	uint64_t frames; /* snapshot frames queued */
	struct sim_stream *next;
};

/* ---- events ---- */

static bool ev_before(const struct sim_event *a, const struct sim_event *b)
{
	return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static struct sim_event *ev_push(struct sim *sim, uint64_t time,
                                 enum ev_type type, uint64_t stream)
{
	struct sim_event *e = calloc(1, sizeof *e);
	size_t i;

	if (e == NULL)
		abort();
	if (sim->nheap == sim->capheap) {
		sim->capheap = sim->capheap ? sim->capheap * 2 : 256;
		sim->heap =
		    realloc(sim->heap, sim->capheap * sizeof *sim->heap);
		if (sim->heap == NULL)
			abort();
	}
	e->time = time;
	e->seq = sim->seq++;
	e->type = type;
	e->gen = sim->gen;
	e->stream = stream;
	i = sim->nheap++;
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!ev_before(e, sim->heap[p]))
			break;
		sim->heap[i] = sim->heap[p];
		i = p;
	}
	sim->heap[i] = e;
	return e;
}

static struct sim_event *ev_pop(struct sim *sim)
{
	struct sim_event *top, *last;
	size_t i = 0;

	if (sim->nheap == 0)
		return NULL;
	top = sim->heap[0];
	last = sim->heap[--sim->nheap];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct sim_event *mv = last;

		if (l < sim->nheap && ev_before(sim->heap[l], mv)) {
			m = l;
			mv = sim->heap[l];
		}
		if (r < sim->nheap && ev_before(sim->heap[r], mv))
			m = r;
		if (m == i)
			break;
		sim->heap[i] = sim->heap[m];
		i = m;
	}
	if (sim->nheap > 0)
		sim->heap[i] = last;
	return top;
}

static void ev_free(struct sim_event *e)
{
	free(e->data);
	free(e);
}

/* ---- setup ---- */

/* .snapshot files already verified: name and inode. */
#define VERIFIED_MAX 16
static struct {
	char name[64];
	ino_t ino;
} verified[VERIFIED_MAX];
static size_t nverified;

void sim_init(struct sim *sim, uint64_t seed, const char *mirror_dir,
              const char *name, size_t chunk_size)
{
	memset(sim, 0, sizeof *sim);
	sim->seed = seed;
	fx_rng_seed(&sim->rng, seed);
	sim->now = 1000;
	sim->wall_base = INT64_C(1700000000000);
	snprintf(sim->mirror_dir, sizeof sim->mirror_dir, "%s", mirror_dir);
	sim->link.latency_min_ms = 1;
	sim->link.latency_max_ms = 5;
	sim->link.connect_ms = 3;
	sim->link.run_max = 16384;
	sim->link.pull_bytes = 64 * 1024;
	sim->link.pump_ms = 20;
	sim->link.heartbeat_ms = 200;
	sim->core_cfg.name = name;
	sim->core_cfg.dir = sim->mirror_dir;
	sim->core_cfg.states.backoff_min_ms = 50;
	sim->core_cfg.states.backoff_max_ms = 2000;
	sim->core_cfg.states.degraded_silence_ms = 15000;
	sim->core_cfg.snapshot_fsync_interval = chunk_size;
	/* A resumed prefix is read back a chunk per slice, so that slices
	 * interleave with the link's events. */
	sim->core_cfg.snapshot_verify_step = chunk_size;
	sim->core_cfg.progress_interval = chunk_size;
	sim->core_cfg.applier_kind = APPLIER_NONE;
	sim->core_cfg.seed = seed;
	sim->check_prefix = sim->check_snapshots = sim->check_applied = true;
	sim->cut_snapshot_after = UINT64_MAX;
	sim->stats.min_backoff_ms = UINT64_MAX;
	sim->ndbs = 1;
	for (size_t db = 0; db < SIM_DBS_MAX; db++)
		sim->sync_at[db] = UINT64_MAX;
	nverified = 0;
}

/* The wal's clock (struct sim, disk_sync_us): read once before and once
 * after every fdatasync; the second read is the end of a sync that took
 * disk_sync_us, during which the mirror did nothing else. */
static uint64_t disk_clock(void *arg)
{
	struct sim *sim = arg;

	if (sim->clock_us < sim->now * 1000)
		sim->clock_us = sim->now * 1000;
	if (sim->disk_reads++ % 2 == 1) {
		sim->clock_us += sim->disk_sync_us;
		sim->now = sim->clock_us / 1000;
	}
	return sim->clock_us;
}

size_t sim_add_source(struct sim *sim, struct sim_source *src)
{
	if (sim->nsources == SIM_SOURCES_MAX)
		abort();
	sim->sources[sim->nsources] = src;
	return sim->nsources++;
}

size_t sim_add_database(struct sim *sim, const char *name, const char *dir)
{
	size_t db = sim->ndbs;

	if (db == 0 || db == SIM_DBS_MAX)
		abort();
	snprintf(sim->db_name[db], sizeof sim->db_name[db], "%s", name);
	snprintf(sim->db_dir[db], sizeof sim->db_dir[db], "%s", dir);
	sim->ndbs++;
	return db;
}

void sim_add_database_source(struct sim *sim, size_t db, size_t i,
                             struct sim_source *src)
{
	if (db == 0 || db >= sim->ndbs || i >= SIM_SOURCES_MAX)
		abort();
	sim->db_sources[db][i] = src;
}

static void cores_free(struct sim *sim)
{
	for (size_t db = 0; db < SIM_DBS_MAX; db++) {
		follow_core_free(sim->cores[db]);
		sim->cores[db] = NULL;
	}
	sim->core = NULL;
}

/* Opens every database's core (the first from core_cfg, the others
 * with its settings and their own name and directory). */
static int cores_open(struct sim *sim, char *errmsg)
{
	int rc;

	sim->core_cfg.states.endpoint_count =
	    sim->nsources > 0 ? (uint32_t)sim->nsources : 1;
	for (size_t db = 0; db < sim->ndbs; db++) {
		struct follow_core_config cfg = sim->core_cfg;

		if (sim->disk_sync_us > 0) {
			cfg.wal_clock_us = disk_clock;
			cfg.wal_clock_arg = sim;
		}
		if (db > 0) {
			cfg.name = sim->db_name[db];
			cfg.dir = sim->db_dir[db];
			cfg.seed = sim->core_cfg.seed + db;
		}
		sim->db_cfg[db] = cfg;
		sim->sync_at[db] = UINT64_MAX;
		rc = follow_core_new(&cfg, sim->now, &sim->cores[db], errmsg);
		if (rc != 0) {
			cores_free(sim);
			return rc;
		}
	}
	sim->core = sim->cores[0];
	return 0;
}

int sim_start(struct sim *sim, char *errmsg)
{
	int rc;

	rc = cores_open(sim, errmsg);
	if (rc != 0)
		return rc;
	ev_push(sim, sim->now, EV_CONNECT, 0);
	ev_push(sim, sim->now + TICK_MS, EV_TICK, 0);
	return 0;
}

static void streams_free(struct sim *sim)
{
	while (sim->streams != NULL) {
		struct sim_stream *st = sim->streams;

		sim->streams = st->next;
		sim_response_free(st->resp);
		free(st);
	}
}

void sim_free(struct sim *sim)
{
	struct sim_event *e;

	streams_free(sim);
	while ((e = ev_pop(sim)) != NULL)
		ev_free(e);
	free(sim->heap);
	sim->heap = NULL;
	cores_free(sim);
	for (size_t i = 0; i < sim->nsources; i++)
		sim_source_close(sim->sources[i]);
	sim->nsources = 0;
	for (size_t db = 0; db < SIM_DBS_MAX; db++)
		for (size_t i = 0; i < SIM_SOURCES_MAX; i++) {
			sim_source_close(sim->db_sources[db][i]);
			sim->db_sources[db][i] = NULL;
		}
}

/* ---- the link ---- */

static int64_t wall(const struct sim *sim)
{
	return sim->wall_base + (int64_t)sim->now;
}

static struct sim_stream *stream_find(struct sim *sim, uint64_t id)
{
	for (struct sim_stream *st = sim->streams; st != NULL; st = st->next)
		if (st->id == id)
			return st;
	return NULL;
}

static void stream_remove(struct sim *sim, struct sim_stream *st)
{
	struct sim_stream **p = &sim->streams;

	while (*p != NULL && *p != st)
		p = &(*p)->next;
	if (*p == st)
		*p = st->next;
	sim_response_free(st->resp);
	free(st);
}

static uint64_t deliver_time(struct sim *sim, struct sim_stream *st)
{
	uint64_t t = sim->now + sim->link.latency_min_ms +
	             fx_rng_below(&sim->rng, sim->link.latency_max_ms -
	                                         sim->link.latency_min_ms + 1);

	if (st != NULL) {
		if (t < st->last_delivery)
			t = st->last_delivery;
		st->last_delivery = t;
	}
	return t;
}

static void violation(struct sim *sim, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violation(struct sim *sim, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sim->violation[0] != '\0')
		return;
	n = snprintf(sim->violation, sizeof sim->violation,
	             "seed %" PRIu64 " at t=%" PRIu64 " ms: ", sim->seed,
	             sim->now);
	va_start(ap, fmt);
	vsnprintf(sim->violation + n, sizeof sim->violation - (size_t)n, fmt,
	          ap);
	va_end(ap);
}

static void do_disconnect(struct sim *sim, const char *why)
{
	uint32_t delay = 0;

	sim->gen++;
	streams_free(sim);
	sim->connected = sim->connecting = false;
	/* As the glue: every database learns it; the soonest that still
	 * wants a connection sets the delay. */
	for (size_t db = 0; db < sim->ndbs; db++) {
		uint32_t d =
		    follow_core_disconnected(sim->cores[db], sim->now, why);
		if (d != 0 && (delay == 0 || d < delay))
			delay = d;
	}
	if (delay == 0)
		return;
	if (delay > sim->stats.max_backoff_ms)
		sim->stats.max_backoff_ms = delay;
	if (delay < sim->stats.min_backoff_ms)
		sim->stats.min_backoff_ms = delay;
	ev_push(sim, sim->now + delay, EV_CONNECT, 0);
}

static void open_stream(struct sim *sim, size_t db,
                        const struct follow_action *a)
{
	struct sim_source *src = sim->db_sources[db][sim->conn_source];
	struct sim_stream *st;
	struct sim_event *e;
	int status = 0;

	if (!sim->connected) {
		violation(sim, "the core opened %s while not connected",
		          a->path);
		return;
	}
	st = calloc(1, sizeof *st);
	if (st == NULL)
		abort();
	if (src == NULL)
		src = sim->sources[sim->conn_source];
	st->id = stream_key(db, a->stream);
	st->resp = sim_source_request(src, a->path, wall(sim), &status);
	st->snapshot = strstr(a->path, "/snapshot?") != NULL;
	st->next = sim->streams;
	sim->streams = st;
	sim->stats.opens++;
	sim->stats.db_opens[db]++;
	if (st->snapshot)
		sim->stats.db_snapshot_requests[db]++;
	snprintf(sim->paths[sim->npaths % SIM_PATHS_KEPT], sizeof sim->paths[0],
	         "%s", a->path);
	sim->npaths++;
	if (st->snapshot) {
		sim->stats.snapshot_requests++;
		sim->stats.last_snapshot_offset = sim_response_offset(st->resp);
	}
	e = ev_push(sim, deliver_time(sim, st), EV_STATUS, st->id);
	e->status = status;
	ev_push(sim, sim->now, EV_PUMP, st->id);
	if (sim_response_is_log(st->resp))
		ev_push(sim, sim->now + sim->link.heartbeat_ms, EV_HEARTBEAT,
		        st->id);
}

static void act(struct sim *sim, size_t db, const struct follow_action *a)
{
	struct sim_stream *st;

	switch (a->type) {
	case FOLLOW_ACTION_OPEN:
		open_stream(sim, db, a);
		break;
	case FOLLOW_ACTION_CANCEL:
		st = stream_find(sim, stream_key(db, a->stream));
		if (st != NULL)
			stream_remove(sim, st);
		break;
	}
}

/* Hands one core's actions to the link; returns how many. */
static size_t take_actions(struct sim *sim, size_t db)
{
	struct follow_action a[FOLLOW_CORE_ACTIONS_MAX];
	size_t n =
	    follow_core_actions(sim->cores[db], a, FOLLOW_CORE_ACTIONS_MAX);

	for (size_t i = 0; i < n; i++)
		act(sim, db, &a[i]);
	return n;
}

/* As the glue: every database not in Error wants the next endpoint. */
static bool all_want_next_endpoint(const struct sim *sim)
{
	bool any = false;

	for (size_t db = 0; db < sim->ndbs; db++) {
		if (follow_core_failed(sim->cores[db]))
			continue;
		if (!follow_core_wants_next_endpoint(sim->cores[db]))
			return false;
		any = true;
	}
	return any;
}

/* As follow.c's sync timer: an EV_SYNC at each core's group commit
 * deadline (one pending per deadline). */
static void arm_sync(struct sim *sim)
{
	for (size_t db = 0; db < sim->ndbs; db++) {
		uint64_t at = follow_core_sync_deadline(sim->cores[db]);

		if (at == UINT64_MAX || at == sim->sync_at[db])
			continue;
		sim->sync_at[db] = at;
		ev_push(sim, at > sim->now ? at : sim->now, EV_SYNC, db);
	}
}

/* Hands the cores' actions to the link until they are quiet: the glue's
 * loop (drain, run, drain again; move to the next endpoint when every
 * database asks for it). */
static void drain(struct sim *sim)
{
	for (int round = 0; round < DRAIN_ROUNDS; round++) {
		size_t n = 0;

		for (size_t db = 0; db < sim->ndbs; db++)
			n += take_actions(sim, db);
		if (n > 0)
			continue;
		for (size_t db = 0; db < sim->ndbs; db++) {
			follow_core_run(sim->cores[db], sim->now);
			n += take_actions(sim, db);
		}
		if (n == 0 && sim->connected && all_want_next_endpoint(sim)) {
			sim->stats.endpoint_moves++;
			do_disconnect(sim, "every database wants the next "
			                   "endpoint");
			continue;
		}
		if (n == 0) {
			arm_sync(sim);
			/* Local work (a resumed snapshot's prefix read
			 * back) goes on a slice per ms, between events,
			 * as follow.c runs it after waiting events. */
			for (size_t db = 0; db < sim->ndbs; db++)
				if (!sim->work_queued &&
				    follow_core_busy(sim->cores[db])) {
					sim->work_queued = true;
					ev_push(sim, sim->now + 1, EV_WORK, 0);
				}
			return;
		}
	}
	violation(sim, "the core keeps asking for actions after %d rounds",
	          DRAIN_ROUNDS);
}

/* Queues body bytes of st as byte runs (and stream or connection cuts),
 * after the link's frame faults. */
static void queue_runs(struct sim *sim, struct sim_stream *st, const uint8_t *p,
                       size_t len)
{
	while (len > 0) {
		size_t n = 1 + fx_rng_below(&sim->rng, sim->link.run_max);
		struct sim_event *e;

		if (n > len)
			n = len;
		e = ev_push(sim, deliver_time(sim, st), EV_BODY, st->id);
		e->data = malloc(n);
		if (e->data == NULL)
			abort();
		memcpy(e->data, p, n);
		e->len = n;
		p += n;
		len -= n;
		if (sim->link.stream_cut_pm > 0 &&
		    fx_rng_chance(&sim->rng, sim->link.stream_cut_pm)) {
			sim->stats.stream_cuts++;
			ev_push(sim, deliver_time(sim, st), EV_RESET, st->id);
			st->done_queued = true;
			return;
		}
		if (sim->link.conn_cut_pm > 0 &&
		    fx_rng_chance(&sim->rng, sim->link.conn_cut_pm)) {
			sim->stats.conn_cuts++;
			ev_push(sim, deliver_time(sim, st), EV_CUT, 0);
			st->done_queued = true;
			return;
		}
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Splits buf into frames and queues them, dropping, duplicating or
 * swapping some when the link says so, and cutting the connection after
 * the sim->cut_snapshot_after-th snapshot frame. */
static void queue_frames(struct sim *sim, struct sim_stream *st,
                         const uint8_t *buf, size_t len)
{
	size_t off = 0;
	const uint8_t *held = NULL; /* a frame swapped behind the next */
	size_t held_len = 0;

	while (off < len && !st->done_queued) {
		size_t flen = len - off;

		if (flen >= PROTO_FRAME_HEADER_SIZE &&
		    be32(buf + off) <= flen - PROTO_FRAME_HEADER_SIZE)
			flen = PROTO_FRAME_HEADER_SIZE + be32(buf + off);
		if (sim->link.drop_pm > 0 &&
		    fx_rng_chance(&sim->rng, sim->link.drop_pm)) {
			sim->stats.drops++;
		} else if (held == NULL && sim->link.swap_pm > 0 &&
		           off + flen < len &&
		           fx_rng_chance(&sim->rng, sim->link.swap_pm)) {
			sim->stats.swaps++;
			held = buf + off;
			held_len = flen;
		} else {
			queue_runs(sim, st, buf + off, flen);
			if (sim->link.dup_pm > 0 && !st->done_queued &&
			    fx_rng_chance(&sim->rng, sim->link.dup_pm)) {
				sim->stats.dups++;
				queue_runs(sim, st, buf + off, flen);
			}
			if (held != NULL && !st->done_queued)
				queue_runs(sim, st, held, held_len);
			held = NULL;
		}
		off += flen;
		if (st->snapshot) {
			st->frames++;
			if (st->frames == sim->cut_snapshot_after) {
				sim->cut_snapshot_after = UINT64_MAX;
				ev_push(sim, deliver_time(sim, st), EV_CUT, 0);
				st->done_queued = true;
			}
		}
	}
	if (held != NULL && !st->done_queued)
		queue_runs(sim, st, held, held_len);
}

static void pump(struct sim *sim, struct sim_stream *st)
{
	struct proto_buf buf;
	size_t produced;
	bool done;

	if (st->done_queued)
		return;
	proto_buf_init(&buf);
	done = sim_response_pull(st->resp, &buf, sim->link.pull_bytes,
	                         st->hb_pending, wall(sim));
	st->hb_pending = false;
	produced = buf.len;
	if (st->snapshot) {
		sim->stats.snapshot_bytes += buf.len;
		sim->stats.db_snapshot_bytes[key_db(st->id)] += buf.len;
	}
	queue_frames(sim, st, buf.data, buf.len);
	proto_buf_free(&buf);
	if (st->done_queued)
		return;
	if (done) {
		st->done_queued = true;
		ev_push(sim, deliver_time(sim, st),
		        sim_response_reset(st->resp) ? EV_RESET : EV_END,
		        st->id);
		return;
	}
	/* A log stream that had less to send than it may waits for the
	 * next change of the spool or heartbeat (serve's inotify wake-up);
	 * otherwise the source goes on after the pump interval. */
	if (!sim_response_is_log(st->resp) || produced >= sim->link.pull_bytes)
		ev_push(sim, sim->now + (st->snapshot ? 1 : sim->link.pump_ms),
		        EV_PUMP, st->id);
}

/* The test changed the spools: wake every log stream. */
static void touch_sources(struct sim *sim)
{
	for (size_t i = 0; i < sim->nsources; i++)
		sim_source_touch(sim->sources[i]);
	for (struct sim_stream *st = sim->streams; st != NULL; st = st->next)
		if (!st->done_queued && sim_response_is_log(st->resp))
			ev_push(sim, sim->now, EV_PUMP, st->id);
}

/* ---- connection and core ---- */

void sim_cut_connection(struct sim *sim, const char *why)
{
	if (sim->connected || sim->connecting)
		do_disconnect(sim, why);
	drain(sim);
}

void sim_source_down(struct sim *sim, size_t i, bool down)
{
	sim->source_down[i] = down;
	if (down && (sim->connected || sim->connecting) &&
	    sim->conn_source == i)
		sim_cut_connection(sim, "source went down");
}

int sim_restart_mirror(struct sim *sim, char *errmsg)
{
	int rc;

	sim->gen++;
	streams_free(sim);
	sim->connected = sim->connecting = false;
	cores_free(sim);
	rc = cores_open(sim, errmsg);
	if (rc != 0)
		return rc;
	ev_push(sim, sim->now + 1, EV_CONNECT, 0);
	return 0;
}

/* One probe of endpoint ep for every database (follow.c's probe_tick). */
static void probe(struct sim *sim, size_t ep)
{
	struct proto_buf body;

	sim->stats.probes++;
	proto_buf_init(&body);
	for (size_t db = 0; db < sim->ndbs; db++) {
		struct sim_source *src = sim->db_sources[db][ep];
		struct sim_response *r;
		char path[160], why[64];
		int status = 0;

		if (follow_core_failed(sim->cores[db]))
			continue;
		if (sim->source_down[ep]) {
			follow_core_probe_failed(sim->cores[db], (uint32_t)ep,
			                         "connection refused",
			                         sim->now);
			continue;
		}
		if (src == NULL)
			src = sim->sources[ep];
		snprintf(path, sizeof path, "/v1/db/%s/info",
		         follow_core_name(sim->cores[db]));
		r = sim_source_request(src, path, wall(sim), &status);
		proto_buf_clear(&body);
		for (int i = 0; i < 16; i++)
			if (sim_response_pull(r, &body, 1 << 16, false,
			                      wall(sim)))
				break;
		sim_response_free(r);
		if (status == 200) {
			follow_core_probe_answer(sim->cores[db], (uint32_t)ep,
			                         body.data, body.len, sim->now);
		} else {
			snprintf(why, sizeof why, "answered status %d", status);
			follow_core_probe_failed(sim->cores[db], (uint32_t)ep,
			                         why, sim->now);
		}
	}
	proto_buf_free(&body);
}

/* As follow.c's tick: a move a database's rules want, then a probe. */
static void freshness_tick(struct sim *sim)
{
	char why[256];
	uint32_t target;

	for (size_t db = 0; db < sim->ndbs; db++) {
		if (!follow_core_take_switch(sim->cores[db], &target, why,
		                             sizeof why))
			continue;
		if (!sim->connected || target == sim->conn_source) {
			follow_core_set_endpoint(sim->cores[db],
			                         (uint32_t)sim->conn_source,
			                         sim->now);
			continue;
		}
		sim->stats.switches++;
		snprintf(sim->last_switch, sizeof sim->last_switch, "%s", why);
		do_disconnect(sim, why);
		for (size_t k = 0; k < sim->ndbs; k++)
			follow_core_set_endpoint(sim->cores[k], target,
			                         sim->now);
		break;
	}
	if (sim->probe_interval_ms == 0 || sim->nsources < 2 ||
	    sim->now < sim->next_probe_at)
		return;
	sim->next_probe_at = sim->now + sim->probe_interval_ms;
	sim->probe_next %= sim->nsources;
	if (sim->connected && sim->probe_next == sim->conn_source)
		sim->probe_next = (sim->probe_next + 1) % sim->nsources;
	probe(sim, sim->probe_next);
	sim->probe_next = (sim->probe_next + 1) % sim->nsources;
}

static void handle(struct sim *sim, struct sim_event *e)
{
	struct sim_stream *st = NULL;

	if (e->type != EV_TICK && e->type != EV_WORK && e->type != EV_SYNC &&
	    e->gen != sim->gen)
		return; /* of a connection (or core) that is gone */
	if (e->type >= EV_STATUS && e->type <= EV_HEARTBEAT) {
		st = stream_find(sim, e->stream);
		if (st == NULL)
			return; /* cancelled */
	}
	switch (e->type) {
	case EV_CONNECT:
		if (sim->connected || sim->connecting)
			return;
		sim->stats.connects++;
		sim->connecting = true;
		sim->conn_source =
		    follow_core_status(sim->core)->endpoint % sim->nsources;
		for (size_t db = 0; db < sim->ndbs; db++)
			follow_core_connecting(sim->cores[db], sim->now);
		drain(sim);
		ev_push(sim, sim->now + sim->link.connect_ms, EV_CONNECT_DONE,
		        0);
		return;
	case EV_CONNECT_DONE:
		if (!sim->connecting)
			return;
		sim->connecting = false;
		if (sim->source_down[sim->conn_source]) {
			do_disconnect(sim, "connection refused");
			drain(sim);
			return;
		}
		sim->connected = true;
		for (size_t db = 0; db < sim->ndbs; db++)
			follow_core_connected(sim->cores[db], sim->now);
		drain(sim);
		return;
	case EV_STATUS:
		follow_core_response(sim->cores[key_db(st->id)], key_id(st->id),
		                     e->status, sim->now);
		drain(sim);
		return;
	case EV_BODY:
		if (st->snapshot)
			sim->stats.frames_delivered++;
		follow_core_body(sim->cores[key_db(st->id)], key_id(st->id),
		                 e->data, e->len, sim->now);
		drain(sim);
		return;
	case EV_END:
		stream_remove(sim, st);
		follow_core_end(sim->cores[key_db(e->stream)],
		                key_id(e->stream), sim->now);
		drain(sim);
		return;
	case EV_RESET:
		stream_remove(sim, st);
		follow_core_stream_error(sim->cores[key_db(e->stream)],
		                         key_id(e->stream), MA_ERR_TRANSPORT,
		                         "stream reset by the link", sim->now);
		drain(sim);
		return;
	case EV_PUMP:
		pump(sim, st);
		return;
	case EV_HEARTBEAT:
		if (st->done_queued)
			return;
		st->hb_pending = true;
		pump(sim, st);
		ev_push(sim, sim->now + sim->link.heartbeat_ms, EV_HEARTBEAT,
		        st->id);
		return;
	case EV_TICK:
		for (size_t db = 0; db < sim->ndbs; db++)
			follow_core_tick(sim->cores[db], sim->now);
		drain(sim);
		freshness_tick(sim);
		drain(sim);
		ev_push(sim, sim->now + TICK_MS, EV_TICK, 0);
		return;
	case EV_SYNC:
		if (e->stream < sim->ndbs) {
			sim->sync_at[e->stream] = UINT64_MAX;
			follow_core_sync(sim->cores[e->stream], sim->now);
		}
		drain(sim);
		return;
	case EV_WORK:
		sim->work_queued = false;
		for (size_t db = 0; db < sim->ndbs; db++) {
			if (follow_core_busy(sim->cores[db]))
				follow_core_run(sim->cores[db], sim->now);
		}
		drain(sim);
		return;
	case EV_CUT:
		sim->stats.cuts_done++;
		if (sim->connected || sim->connecting) {
			do_disconnect(sim, "connection cut by the link");
			drain(sim);
		}
		return;
	}
}

bool sim_run(struct sim *sim, bool (*done)(struct sim *, void *), void *arg,
             uint64_t max_ms)
{
	uint64_t deadline = sim->now + max_ms;

	touch_sources(sim);
	for (uint64_t steps = 0; steps < STEPS_MAX; steps++) {
		struct sim_event *e;

		if (sim->violation[0] != '\0')
			return false;
		if (done != NULL && done(sim, arg))
			return true;
		if (sim->nheap == 0 || sim->heap[0]->time > deadline) {
			if (deadline > sim->now)
				sim->now = deadline;
			return done != NULL && done(sim, arg);
		}
		e = ev_pop(sim);
		/* Later than its time when a wal sync held the mirror. */
		if (e->time > sim->now)
			sim->now = e->time;
		handle(sim, e);
		ev_free(e);
		sim->stats.steps++;
		sim_check(sim);
	}
	violation(sim, "more than %u steps", STEPS_MAX);
	return false;
}

/* ---- model and invariants ---- */

void sim_model_terms(struct sim *sim, uint64_t first_index, uint64_t term)
{
	while (sim->model.nterms > 0 &&
	       sim->model.terms[sim->model.nterms - 1].first_index >=
	           first_index)
		sim->model.nterms--;
	if (sim->model.nterms == SIM_TERM_RANGES_MAX)
		abort();
	sim->model.terms[sim->model.nterms].first_index = first_index;
	sim->model.terms[sim->model.nterms].term = term;
	sim->model.nterms++;
}

uint64_t sim_model_term(const struct sim *sim, uint64_t index)
{
	uint64_t term = 0;

	for (size_t i = 0; i < sim->model.nterms; i++)
		if (sim->model.terms[i].first_index <= index)
			term = sim->model.terms[i].term;
	return term;
}

void sim_model_snapshot(struct sim *sim, uint64_t index, uint64_t term,
                        uint64_t size, uint32_t crc32c)
{
	if (sim->model.nsnaps == SIM_SNAPSHOTS_MAX)
		abort();
	sim->model.snaps[sim->model.nsnaps].index = index;
	sim->model.snaps[sim->model.nsnaps].term = term;
	sim->model.snaps[sim->model.nsnaps].size = size;
	sim->model.snaps[sim->model.nsnaps].crc32c = crc32c;
	sim->model.nsnaps++;
}

static void check_prefix(struct sim *sim)
{
	struct wal_log *log = follow_core_wal(sim->core);
	char em[MA_ERRMSG_SIZE], want[SIM_ENTRY_SIZE];
	uint64_t first, last;

	if (log == NULL)
		return;
	first = wal_log_first_index(log);
	last = wal_log_last_index(log);
	if (sim->checked_index > last)
		sim->checked_index = last;
	if (first > 0 && sim->checked_index + 1 < first)
		sim->checked_index = first - 1;
	while (sim->checked_index < last) {
		uint64_t i = sim->checked_index + 1;
		struct wal_entry e;
		size_t len;
		int rc = wal_log_read(log, i, &e, em);

		if (rc != 0) {
			violation(sim,
			          "mirror wal entry %" PRIu64 " unreadable: %s",
			          i, em);
			return;
		}
		len = fx_payload(i, SIM_ENTRY_SIZE, want, sizeof want);
		if (e.term != sim_model_term(sim, i) || e.len != len ||
		    memcmp(e.data, want, len) != 0) {
			violation(sim,
			          "mirror wal entry %" PRIu64 " (term %" PRIu64
			          ", %zu bytes) differs from the source's "
			          "(term %" PRIu64 ", %zu bytes)",
			          i, e.term, e.len, sim_model_term(sim, i),
			          len);
			return;
		}
		sim->checked_index = i;
	}
}

static bool file_crc(const char *path, uint64_t *size, uint32_t *crc)
{
	uint8_t buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	*size = 0;
	*crc = 0;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		*crc = crc32c_append(*crc, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	close(fd);
	return n == 0;
}

static void check_snapshots(struct sim *sim)
{
	char dir[PATH_MAX + 16], path[PATH_MAX + 96];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof dir, "%s/%s", sim->mirror_dir, SPOOL_SNAPSHOT_DIR);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		uint64_t index, term, size;
		uint32_t crc;
		struct stat st;
		bool seen = false, known = false;
		size_t nl = strlen(de->d_name);

		if (nl < 10 || strcmp(de->d_name + nl - 9, ".snapshot") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;
		for (size_t i = 0; i < nverified; i++)
			if (verified[i].ino == st.st_ino &&
			    strcmp(verified[i].name, de->d_name) == 0)
				seen = true;
		if (seen)
			continue;
		if (sscanf(de->d_name, "%" SCNu64 "-%" SCNu64, &index, &term) !=
		    2) {
			violation(sim, "unexpected file %s", path);
			break;
		}
		if (!file_crc(path, &size, &crc)) {
			violation(sim, "cannot read %s", path);
			break;
		}
		for (size_t i = 0; i < sim->model.nsnaps; i++) {
			if (sim->model.snaps[i].index != index ||
			    sim->model.snaps[i].term != term)
				continue;
			known = true;
			if (sim->model.snaps[i].size != size ||
			    sim->model.snaps[i].crc32c != crc)
				violation(sim,
				          "%s is visible with wrong content: "
				          "%" PRIu64 " bytes CRC32C %08" PRIx32
				          ", the source's has %" PRIu64
				          " bytes CRC32C %08" PRIx32,
				          path, size, crc,
				          sim->model.snaps[i].size,
				          sim->model.snaps[i].crc32c);
		}
		if (!known)
			violation(sim, "%s names no snapshot of the source",
			          path);
		if (nverified < VERIFIED_MAX) {
			snprintf(verified[nverified].name,
			         sizeof verified[nverified].name, "%s",
			         de->d_name);
			verified[nverified++].ino = st.st_ino;
		}
	}
	closedir(d);
}

static void check_applied(struct sim *sim)
{
	const struct mirror_status *s = follow_core_status(sim->core);
	struct wal_log *log = follow_core_wal(sim->core);
	struct applier *a = follow_core_applier(sim->core);

	if (s->applied_index < sim->max_applied)
		violation(
		    sim, "applied_index went back from %" PRIu64 " to %" PRIu64,
		    sim->max_applied, s->applied_index);
	else
		sim->max_applied = s->applied_index;
	if (log != NULL) {
		uint64_t d = wal_log_durable_index(log);

		if (d < sim->max_durable)
			violation(sim,
			          "the wal's durable index went back from "
			          "%" PRIu64 " to %" PRIu64,
			          sim->max_durable, d);
		else
			sim->max_durable = d;
	}
	if (a != NULL) {
		uint64_t i = applier_applied_index(a);

		if (i < sim->max_applier)
			violation(sim,
			          "the applier's index went back from %" PRIu64
			          " to %" PRIu64,
			          sim->max_applier, i);
		else
			sim->max_applier = i;
	}
}

bool sim_check(struct sim *sim)
{
	if (sim->core == NULL)
		return sim->violation[0] == '\0';
	if (sim->check_prefix)
		check_prefix(sim);
	if (sim->check_snapshots)
		check_snapshots(sim);
	if (sim->check_applied)
		check_applied(sim);
	return sim->violation[0] == '\0';
}

/* ---- figures ---- */

enum mirror_state sim_state(const struct sim *sim)
{
	return follow_core_status(sim->core)->state;
}

const char *sim_path(const struct sim *sim, uint64_t n)
{
	if (n >= sim->npaths || sim->npaths - n > SIM_PATHS_KEPT)
		return "";
	return sim->paths[n % SIM_PATHS_KEPT];
}

uint64_t sim_log_index(const struct sim *sim)
{
	return follow_core_log_index(sim->core);
}

bool sim_following_at(struct sim *sim, void *index_ptr)
{
	enum mirror_state s = sim_state(sim);

	return (s == MIRROR_FOLLOWING || s == MIRROR_DEGRADED) &&
	       sim_log_index(sim) == *(const uint64_t *)index_ptr;
}

bool sim_mirror_snapshot(const struct sim *sim, uint64_t index, uint64_t term,
                         uint64_t *size, uint32_t *crc32c)
{
	char path[PATH_MAX + 96];

	snprintf(path, sizeof path, "%s/%s/%" PRIu64 "-%" PRIu64 ".snapshot",
	         sim->mirror_dir, SPOOL_SNAPSHOT_DIR, index, term);
	return file_crc(path, size, crc32c);
}

size_t sim_mirror_snapshot_count(const struct sim *sim)
{
	char dir[PATH_MAX + 16];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof dir, "%s/%s", sim->mirror_dir, SPOOL_SNAPSHOT_DIR);
	d = opendir(dir);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name);

		if (nl >= 10 && strcmp(de->d_name + nl - 9, ".snapshot") == 0)
			n++;
	}
	closedir(d);
	return n;
}
