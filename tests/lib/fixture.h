/* Test fixtures in C (tests/lib/libfixture.a): scratch directories, a
 * seeded PRNG, and a spool builder that writes a source spool (identity,
 * wal, snapshot store; spool/spool.h) in-process with deterministic
 * content -- the in-process sibling of tests/tools/spoolgen.c, with the
 * same payload rule.
 *
 * Functions that can fail return 0 or a negative MA_ERR_* code with
 * errmsg (MA_ERRMSG_SIZE bytes, may be NULL) set, so a test can
 * assert_int_equal(fx_..., 0) and print errmsg. */
#ifndef MIRROR_TESTS_LIB_FIXTURE_H
#define MIRROR_TESTS_LIB_FIXTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

struct snapshot_meta;
struct snapshot_store;
struct wal_log;

/* ---- scratch directories ---- */

/* Creates a fresh directory "<base>/ma-<tag>-XXXXXX" in out, where base
 * is $MA_TEST_TMPDIR, else /dev/shm when it is a writable directory
 * (tmpfs: fsync is cheap), else /tmp. 0 or MA_ERR_IO. */
int fx_scratch_dir(const char *tag, char *out, size_t size, char *errmsg);
/* Removes dir and everything below it (no symlinks followed). Safe on an
 * empty string. */
void fx_remove_tree(const char *dir);
/* cmocka setup and teardown of a test's scratch directory (fx_scratch.c,
 * which needs only common/): the setup makes one, tagged with the test
 * program's name, and puts its path (malloc'd) in *state; the teardown
 * clears the injected io faults (io_fault_clear, common/io.h), removes
 * the tree and frees the path, and fails when the directory is still
 * there. */
int fx_scratch_setup(void **state);
int fx_scratch_teardown(void **state);

/* ---- PRNG: splitmix64, the same stream on every machine ---- */

struct fx_rng {
	uint64_t state;
};

void fx_rng_seed(struct fx_rng *r, uint64_t seed);
uint64_t fx_rng_next(struct fx_rng *r);
/* Uniform in [0, n) (0 when n == 0). */
uint64_t fx_rng_below(struct fx_rng *r, uint64_t n);
/* True with probability per_mille / 1000. */
bool fx_rng_chance(struct fx_rng *r, unsigned per_mille);
/* Fills buf with the next len bytes of r's stream (8 bytes a value, little
 * end first on every machine we build on; a tail shorter than 8 takes the
 * first bytes of one more value). */
void fx_rng_fill(struct fx_rng *r, uint8_t *buf, size_t len);
/* Fills buf with the splitmix64 stream of seed (spoolgen's snapshot
 * bytes). */
void fx_fill(uint64_t seed, uint8_t *buf, size_t len);

/* ---- spool builder ---- */

/* The payload of entry index (spoolgen's rule): "entry-<index>-" padded
 * with 'a' + index % 26 to size bytes (cut when shorter); size 0 gives
 * "entry-<index>". Returns the length written (at most cap). */
size_t fx_payload(uint64_t index, size_t size, char *buf, size_t cap);

struct fx_spool {
	char dir[PATH_MAX];
	char wal_dir[PATH_MAX];
	char snap_dir[PATH_MAX];
	struct proto_identity id;
	struct wal_log *log;          /* open for writing */
	struct snapshot_store *store; /* open */
	uint64_t segment_size;
};

/* Creates a spool in dir (made if missing): identity (database, the
 * cluster UUID, epoch), an empty wal with segments of segment_size bytes
 * (0: the wal default; 4096 is the smallest and lets compaction bite
 * after a few dozen small entries) and a snapshot store. */
int fx_spool_create(struct fx_spool *s, const char *dir, const char *database,
                    const char *cluster_id, uint64_t epoch,
                    uint64_t segment_size, char *errmsg);
/* Opens (creating when missing) the wal in wal_dir with the identity
 * (cluster_id, database) and segments of segment_size bytes (0: the wal
 * default): what fx_spool_create, spoolgen and the tests that lay a wal
 * of their own share. */
int fx_wal_open(const char *wal_dir, const char *cluster_id,
                const char *database, uint64_t segment_size,
                struct wal_log **log, char *errmsg);
/* Closes the wal and the store (the files stay). Safe twice. */
void fx_spool_close(struct fx_spool *s);
/* Appends count entries of term from the next index (fx_payload with
 * size), fsynced. */
int fx_spool_append(struct fx_spool *s, uint64_t count, uint64_t term,
                    size_t size, char *errmsg);
/* Creates snapshot (index, term) of size bytes fx_fill(seed). meta (may
 * be NULL) gets its metadata. */
int fx_spool_snapshot(struct fx_spool *s, uint64_t index, uint64_t term,
                      size_t size, uint64_t seed, struct snapshot_meta *meta,
                      char *errmsg);
/* Retention: wal_log_truncate_prefix(before). */
int fx_spool_compact(struct fx_spool *s, uint64_t before, char *errmsg);
/* Divergence: wal_log_truncate_suffix(last_kept). */
int fx_spool_truncate(struct fx_spool *s, uint64_t last_kept, char *errmsg);
/* Rewrites the identity (a new epoch: the source was reset). */
int fx_spool_set_identity(struct fx_spool *s, const struct proto_identity *id,
                          char *errmsg);
uint64_t fx_spool_first_index(const struct fx_spool *s);
uint64_t fx_spool_last_index(const struct fx_spool *s);

/* ---- the test tools' ADDR:PORT arguments (fx_endpoint.c) ---- */

struct sockaddr_in;
/* Reads s ("127.0.0.1:5000", port 0 taken) with parse_endpoint() into an
 * IPv4 address; on error prints "PROG: 's': why" and exits 2. */
void fx_endpoint4_or_exit(const char *prog, const char *s,
                          struct sockaddr_in *sa);

/* ---- the transport tests' bodies and PKI (fx_transport.c) ---- */

/* Byte i of the generated response body every transport test serves. */
uint8_t fx_body_byte(uint64_t i);
/* p[0..n) = bytes off .. off + n - 1 of that body. */
void fx_body_fill(uint8_t *p, uint64_t off, size_t n);
/* CRC32C of the body's first size bytes (what a client must receive). */
uint32_t fx_body_crc(uint64_t size);
/* cmocka group setup and teardown: a throw-away test PKI (struct
 * test_pki, tests/integration/test_transport_util.h, made by
 * tests/certs/gen-certs.sh) in *state, removed by the teardown. */
int fx_pki_setup(void **state);
int fx_pki_teardown(void **state);

/* A disk for the wal's group-commit budget: as the wal's clock
 * (wal_options.clock_us, arg the disk) it reads the time in ms -- *track
 * when set, else now_ms -- before an fdatasync and that plus sync_us
 * after it (the wal reads it exactly twice per sync). Inline: the wal
 * tests link this library without the spool and snapshot ones. */
struct fx_disk {
	uint64_t now_ms;
	const uint64_t *track;
	uint64_t sync_us;
	unsigned reads;
};
static inline uint64_t fx_disk_clock(void *arg)
{
	struct fx_disk *d = arg;
	uint64_t ms = d->track != NULL ? *d->track : d->now_ms;

	return ms * 1000 + (d->reads++ % 2 == 1 ? d->sync_us : 0);
}

#endif
