/* snapshot receiver and sender: commit, CRC and offset errors, progress,
 * fail-stop, crash-and-resume at every durability operation, identity
 * change, ENOSPC (injected and on a small tmpfs), sender resume. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "proto/proto.h"
#include "snapshot/snapshot.h"

#define MIB (1024 * 1024)

struct events {
	int progress;
	int complete;
	uint64_t last_done;
	uint64_t total;
	bool monotonic;
};

struct fixture {
	char dir[64];
	char store_dir[128];
	struct snapshot_store *store;
	struct events ev;
};

static void on_event(void *arg, const struct snapshot_recv_event *ev)
{
	struct events *e = arg;

	if (ev->bytes_done < e->last_done)
		e->monotonic = false;
	e->last_done = ev->bytes_done;
	e->total = ev->bytes_total;
	if (ev->type == SNAPSHOT_RECV_PROGRESS)
		e->progress++;
	else
		e->complete++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char errmsg[MA_ERRMSG_SIZE];

	if (f == NULL)
		return -1;
	strcpy(f->dir, "/tmp/ma-test-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->store_dir, sizeof f->store_dir, "%s/snapshots", f->dir);
	if (snapshot_store_open(f->store_dir, &f->store, errmsg) != 0)
		return -1;
	f->ev.monotonic = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	io_fault_clear();
	snapshot_store_close(f->store);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static uint8_t *make_data(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n > 0 ? n : 1);
	uint32_t x = seed * 2654435761u + 1;

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	return p;
}

static struct snapshot_ident ident_for(const uint8_t *data, size_t n,
                                       uint64_t index, uint64_t term)
{
	struct snapshot_ident id;

	memset(&id, 0, sizeof id);
	strcpy(id.cluster_id, "c0ffee00-1111-2222-3333-444455556666");
	strcpy(id.database_id, "kv");
	id.index = index;
	id.term = term;
	id.size = n;
	id.crc32c = crc32c(data, n);
	return id;
}

static struct snapshot_receiver *open_receiver_in(const char *data_dir,
                                                  struct snapshot_store *store,
                                                  struct events *ev,
                                                  uint64_t fsync_interval)
{
	struct snapshot_receiver_config cfg = {
	    .data_dir = data_dir,
	    .store = store,
	    .fsync_interval = fsync_interval,
	    .on_event = on_event,
	    .arg = ev,
	};
	struct snapshot_receiver *r;
	char errmsg[MA_ERRMSG_SIZE];

	if (snapshot_receiver_open(&cfg, "kv", &r, errmsg) != 0)
		fail_msg("receiver open: %s", errmsg);
	return r;
}

static struct snapshot_receiver *open_receiver(struct fixture *f,
                                               uint64_t fsync_interval)
{
	return open_receiver_in(f->dir, f->store, &f->ev, fsync_interval);
}

static struct snapshot_chunk chunk_env(const struct snapshot_ident *id,
                                       const uint8_t *data, uint64_t off,
                                       size_t len)
{
	struct snapshot_chunk env;

	memset(&env, 0, sizeof env);
	env.id = *id;
	env.offset = off;
	env.data = len > 0 ? data + off : NULL;
	env.data_len = len;
	env.crc32c = crc32c(env.data, len);
	env.done = off + len == id->size && len == 0;
	return env;
}

/* Feeds data[from..size) in chunks, then {done}. Stops at the first
 * non-zero result and returns it. When report_fd >= 0 the next offset
 * after each accepted chunk is written there (crash tests). */
/* Runs the verification of a resumed prefix to its end: 1 when that
 * committed the snapshot, 0 when nothing was pending, or an error. */
static int verify_all(struct snapshot_receiver *r, char *errmsg)
{
	for (int i = 0; i < 1000000; i++) {
		int rc = snapshot_receiver_verify(r, 0, 1000, errmsg);

		if (rc != 0 || !snapshot_receiver_verifying(r))
			return rc;
	}
	fail_msg("verification did not end");
	return -1;
}

static int feed_range(struct snapshot_receiver *r,
                      const struct snapshot_ident *id, const uint8_t *data,
                      uint64_t from, size_t chunk, int report_fd, char *errmsg)
{
	uint64_t off = from;
	int rc;

	while (off < id->size) {
		size_t n =
		    id->size - off < chunk ? (size_t)(id->size - off) : chunk;
		struct snapshot_chunk env = chunk_env(id, data, off, n);

		rc = snapshot_receiver_feed(r, &env, 1000, errmsg);
		if (rc != 0)
			return rc;
		off += n;
		if (report_fd >= 0 &&
		    write(report_fd, &off, sizeof off) != sizeof off)
			return -100;
		/* As the glue does: a slice of a resumed prefix's
		 * verification between chunks. */
		rc = snapshot_receiver_verify(r, chunk, 1000, errmsg);
		if (rc != 0)
			return rc;
	}
	{
		struct snapshot_chunk env = chunk_env(id, data, off, 0);
		env.done = true;
		rc = snapshot_receiver_feed(r, &env, 1000, errmsg);
		return rc == 2 ? verify_all(r, errmsg) : rc;
	}
}

static void assert_committed(struct snapshot_store *store,
                             const struct snapshot_ident *id,
                             const uint8_t *data)
{
	char errmsg[MA_ERRMSG_SIZE], path[512];
	struct snapshot_meta m;
	void *buf;
	size_t len;

	if (snapshot_store_get(store, id->index, id->term, &m, errmsg) != 0)
		fail_msg("not committed: %s", errmsg);
	assert_true(snapshot_ident_equal(&m.id, id));
	assert_int_equal(
	    snapshot_store_path(store, id->index, id->term, path, sizeof path),
	    0);
	assert_int_equal(io_read_file(path, id->size + 1, &buf, &len, NULL), 0);
	assert_int_equal(len, id->size);
	if (len > 0 && memcmp(buf, data, len) != 0)
		fail_msg("committed content differs");
	free(buf);
	assert_int_equal(snapshot_file_verify(path, NULL, errmsg), 0);
}

static bool recv_file_exists(const char *data_dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof path, "%s/recv/%s", data_dir, name);
	return access(path, F_OK) == 0;
}

static void assert_no_snapshot(struct snapshot_store *store)
{
	struct snapshot_meta m;

	assert_int_equal(snapshot_store_latest(store, &m, NULL),
	                 MA_ERR_NOTFOUND);
}

/* ---- tests -------------------------------------------------------------- */

/* Whole stream as framed bytes in odd pieces: commits, reports complete. */
static void test_full_stream_commits(void **state)
{
	struct fixture *f = *state;
	size_t size = 5 * MIB + 777, chunk = 64 * 1024, pos = 0;
	uint8_t *data = make_data(size, 1);
	struct snapshot_ident id = ident_for(data, size, 100, 3);
	struct snapshot_receiver *r = open_receiver(f, 0);
	char errmsg[MA_ERRMSG_SIZE];
	struct proto_buf sb;
	uint32_t x = 7;
	int rc = 0;

	proto_buf_init(&sb);
	for (uint64_t off = 0;;) {
		size_t n = size - off < chunk ? size - off : chunk;
		struct snapshot_chunk env = chunk_env(&id, data, off, n);

		env.done = n == 0;
		assert_int_equal(proto_envelope_encode(&sb, &env, errmsg), 0);
		if (n == 0)
			break;
		off += n;
	}
	while (pos < sb.len && rc == 0) {
		size_t piece;

		x = x * 1103515245u + 12345u;
		piece = 1 + (x >> 8) % 100000;
		if (piece > sb.len - pos)
			piece = sb.len - pos;
		rc = snapshot_receiver_feed_bytes(r, sb.data + pos, piece, 5000,
		                                  errmsg);
		pos += piece;
	}
	if (rc != 1)
		fail_msg("rc %d: %s", rc, errmsg);
	assert_int_equal(pos, sb.len);
	assert_int_equal(f->ev.complete, 1);
	assert_int_equal(f->ev.last_done, size);
	assert_committed(f->store, &id, data);
	assert_false(recv_file_exists(f->dir, "kv.partial"));
	assert_false(recv_file_exists(f->dir, "kv.progress"));
	proto_buf_free(&sb);
	snapshot_receiver_close(r);
	free(data);
}

/* Encodes data as a framed envelope stream in chunks of `chunk`. */
static void encode_stream(struct proto_buf *b, const struct snapshot_ident *id,
                          const uint8_t *data, size_t chunk)
{
	char errmsg[MA_ERRMSG_SIZE];

	for (uint64_t off = 0;;) {
		size_t n = id->size - off < chunk ? id->size - off : chunk;
		struct snapshot_chunk c = chunk_env(id, data, off, n);

		c.done = n == 0;
		assert_int_equal(proto_envelope_encode(b, &c, errmsg), 0);
		if (n == 0)
			break;
		off += n;
	}
}

/* The framer lives with the receiver's stream: begin() and abort() drop
 * a half-received frame, and a bad frame refuses the rest of its stream. */
static void test_stream_front_end(void **state)
{
	struct fixture *f = *state;
	size_t size = 200000;
	uint8_t *data = make_data(size, 11);
	struct snapshot_ident id = ident_for(data, size, 100, 3);
	struct snapshot_ident id2 = ident_for(data, size, 101, 3);
	struct snapshot_receiver *r = open_receiver(f, 0);
	char errmsg[MA_ERRMSG_SIZE] = "";
	struct proto_buf b, b2;
	uint64_t off = 7;

	proto_buf_init(&b);
	proto_buf_init(&b2);
	encode_stream(&b, &id, data, 65536);
	encode_stream(&b2, &id2, data, 65536);
	/* Ten bytes of a first request, then a new request from 0. */
	assert_int_equal(snapshot_receiver_feed_bytes(r, b.data, 10, 0, errmsg),
	                 0);
	assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg), 0);
	assert_int_equal(off, 0);
	assert_int_equal(
	    snapshot_receiver_feed_bytes(r, b.data, b.len, 0, errmsg), 1);
	assert_committed(f->store, &id, data);

	/* A frame whose body is not an envelope: named (the stream's sixth
	 * frame, after four chunks and {done}), and sticky. */
	assert_int_equal(snapshot_receiver_feed_bytes(
	                     r, "\0\0\0\x03\x93\x01\x02", 7, 0, errmsg),
	                 MA_ERR_PROTO);
	assert_non_null(strstr(errmsg, "frame 6: message is not a map"));
	assert_int_equal(
	    snapshot_receiver_feed_bytes(r, b2.data, b2.len, 0, errmsg),
	    MA_ERR_PROTO);
	assert_non_null(strstr(errmsg, "refused after an earlier error"));
	/* abort() starts a new stream. */
	assert_int_equal(snapshot_receiver_abort(r, errmsg), 0);
	assert_int_equal(
	    snapshot_receiver_feed_bytes(r, b2.data, b2.len, 0, errmsg), 1);
	assert_committed(f->store, &id2, data);
	proto_buf_free(&b);
	proto_buf_free(&b2);
	snapshot_receiver_close(r);
	free(data);
}

static void test_total_crc_mismatch_removes_partial(void **state)
{
	struct fixture *f = *state;
	size_t size = 300000;
	uint8_t *data = make_data(size, 2);
	struct snapshot_ident id = ident_for(data, size, 5, 1);
	struct snapshot_receiver *r = open_receiver(f, 0);
	char errmsg[MA_ERRMSG_SIZE], want[64];
	uint32_t real = id.crc32c;

	id.crc32c = real ^ 0x5a5a5a5a;
	assert_int_equal(feed_range(r, &id, data, 0, 65536, -1, errmsg),
	                 MA_ERR_CRC);
	snprintf(want, sizeof want, "0x%08x", real);
	assert_non_null(strstr(errmsg, want));
	snprintf(want, sizeof want, "0x%08x", id.crc32c);
	assert_non_null(strstr(errmsg, want));
	assert_non_null(strstr(errmsg, "total_crc32c"));
	assert_false(recv_file_exists(f->dir, "kv.partial"));
	assert_false(recv_file_exists(f->dir, "kv.progress"));
	assert_no_snapshot(f->store);
	assert_int_equal(f->ev.complete, 0);
	snapshot_receiver_close(r);
	free(data);
}

static void test_zero_byte_snapshot(void **state)
{
	struct fixture *f = *state;
	uint8_t none[1] = {0};
	struct snapshot_ident id = ident_for(none, 0, 1, 1);
	struct snapshot_receiver *r = open_receiver(f, 0);
	char errmsg[MA_ERRMSG_SIZE];

	assert_int_equal(id.crc32c, 0);
	assert_int_equal(feed_range(r, &id, none, 0, 4096, -1, errmsg), 1);
	assert_int_equal(f->ev.complete, 1);
	assert_committed(f->store, &id, none);
	snapshot_receiver_close(r);
}

static void test_progress_monotonic(void **state)
{
	struct fixture *f = *state;
	size_t size = 3 * MIB;
	uint8_t *data = make_data(size, 3);
	struct snapshot_ident id = ident_for(data, size, 9, 9);
	struct snapshot_receiver *r = open_receiver(f, 0);
	char errmsg[MA_ERRMSG_SIZE];

	assert_int_equal(feed_range(r, &id, data, 0, 100000, -1, errmsg), 1);
	assert_true(f->ev.progress >= 2);
	assert_true(f->ev.monotonic);
	assert_int_equal(f->ev.total, size);
	assert_int_equal(f->ev.complete, 1);
	snapshot_receiver_close(r);
	free(data);
}

/* begin() binds the receiver to what was asked: a source answering the
 * request for snapshot I with envelopes of another snapshot (another
 * index, term, size, CRC or cluster) is refused from the first chunk and
 * nothing of it is stored. Before, an offset-0 envelope of another
 * snapshot simply started a fresh receive of it. */
static void test_begin_binds_the_identity(void **state)
{
	struct fixture *f = *state;
	size_t size = 100000;
	uint8_t *data = make_data(size, 9);
	struct snapshot_ident id = ident_for(data, size, 100, 3);
	struct snapshot_ident other[5];
	struct snapshot_receiver *r = open_receiver(f, 0);
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_chunk env;
	uint64_t offset = 99;

	for (int i = 0; i < 5; i++)
		other[i] = id;
	other[0].index = 90;
	other[1].term = 2;
	other[2].size = size - 8;
	other[3].crc32c ^= 1;
	other[4].cluster_id[0] = other[4].cluster_id[0] == 'a' ? 'b' : 'a';
	assert_int_equal(snapshot_receiver_begin(r, &id, &offset, errmsg), 0);
	assert_int_equal(offset, 0);
	for (int i = 0; i < 5; i++) {
		env = chunk_env(&other[i], data, 0, 50000);
		assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg),
		                 MA_ERR_IDENTITY);
		assert_non_null(strstr(errmsg, "was asked for"));
		assert_non_null(strstr(errmsg, "but 100-3 "));
		/* Feeding it to the end changes nothing either. */
		assert_int_equal(
		    feed_range(r, &other[i], data, 0, 65536, -1, errmsg),
		    MA_ERR_IDENTITY);
	}
	assert_no_snapshot(f->store);
	assert_int_equal(snapshot_receiver_offset(r), 0);
	/* The snapshot asked for goes through. */
	assert_int_equal(feed_range(r, &id, data, 0, 65536, -1, errmsg), 1);
	assert_committed(f->store, &id, data);
	snapshot_receiver_close(r);
	free(data);
}

static void test_offset_gap_and_regression(void **state)
{
	struct fixture *f = *state;
	size_t size = 200000;
	uint8_t *data = make_data(size, 4);
	struct snapshot_ident id = ident_for(data, size, 2, 2);
	struct snapshot_receiver *r = open_receiver(f, 0);
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_chunk env;

	/* Nothing in progress: only offset 0 starts a receive. */
	env = chunk_env(&id, data, 1000, 1000);
	assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg),
	                 MA_ERR_OFFSET);
	assert_non_null(strstr(errmsg, "expected offset 0"));
	env = chunk_env(&id, data, 0, 50000);
	assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg), 0);
	/* Gap. */
	env = chunk_env(&id, data, 60000, 1000);
	assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg),
	                 MA_ERR_OFFSET);
	assert_non_null(strstr(errmsg, "offset regression/gap"));
	assert_non_null(strstr(errmsg, "expected offset 50000"));
	assert_non_null(strstr(errmsg, "got 60000"));
	/* Regression. */
	env = chunk_env(&id, data, 40000, 1000);
	assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg),
	                 MA_ERR_OFFSET);
	assert_non_null(strstr(errmsg, "expected offset 50000"));
	assert_non_null(strstr(errmsg, "got 40000"));
	/* Another snapshot mid-stream. */
	env = chunk_env(&id, data, 50000, 1000);
	env.id.index = 3;
	assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg),
	                 MA_ERR_IDENTITY);
	/* The receiver is still usable. */
	assert_int_equal(feed_range(r, &id, data, 50000, 65536, -1, errmsg), 1);
	assert_committed(f->store, &id, data);
	snapshot_receiver_close(r);
	free(data);
}

static void test_bad_chunk_crc(void **state)
{
	struct fixture *f = *state;
	size_t size = 100000;
	uint8_t *data = make_data(size, 5);
	struct snapshot_ident id = ident_for(data, size, 2, 2);
	struct snapshot_receiver *r = open_receiver(f, 0);
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_chunk env;

	/* A chunk still compressed (a caller that forgot to decompress) is
	 * named as such, not reported as a CRC mismatch; nothing written. */
	env = chunk_env(&id, data, 0, 50000);
	env.encoding = 1; /* SNAPSHOT_ENCODING_ZSTD */
	assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg),
	                 MA_ERR_INVAL);
	assert_non_null(strstr(errmsg, "chunk at offset 0 is still encoded "
	                               "(encoding 1)"));
	assert_int_equal(snapshot_receiver_offset(r), 0);
	env = chunk_env(&id, data, 0, 50000);
	env.crc32c ^= 1;
	assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg),
	                 MA_ERR_CRC);
	assert_non_null(strstr(errmsg, "chunk at offset 0"));
	assert_int_equal(snapshot_receiver_offset(r), 0);
	assert_int_equal(feed_range(r, &id, data, 0, 50000, -1, errmsg), 1);
	assert_committed(f->store, &id, data);
	snapshot_receiver_close(r);
	free(data);
}

static void test_write_fault_fail_stop(void **state)
{
	struct fixture *f = *state;
	size_t size = 500000;
	uint8_t *data = make_data(size, 6);
	struct snapshot_ident id = ident_for(data, size, 2, 2);
	struct snapshot_receiver *r = open_receiver(f, 0);
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_chunk env;

	/* Write 1 is the progress record of the fresh start; 3 a chunk. */
	io_fault_set(IO_FAULT_WRITE, 3, 1, EIO);
	assert_int_equal(feed_range(r, &id, data, 0, 65536, -1, errmsg),
	                 MA_ERR_IO);
	assert_non_null(strstr(errmsg, "kv.partial"));
	io_fault_clear();
	/* Stays failed even though the disk is fine again. */
	env = chunk_env(&id, data, snapshot_receiver_offset(r), 1000);
	assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg),
	                 MA_ERR_FAILED);
	assert_non_null(strstr(errmsg, "earlier error"));
	env = chunk_env(&id, data, 0, 1000);
	assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg),
	                 MA_ERR_FAILED);
	/* The byte-stream front end refuses too, even for bytes that do not
	 * complete a frame. */
	assert_int_equal(snapshot_receiver_feed_bytes(r, "\0\0", 2, 0, errmsg),
	                 MA_ERR_FAILED);
	assert_no_snapshot(f->store);
	snapshot_receiver_close(r);
	free(data);
}

/* Kills the receive at every durability operation (write, fsync,
 * progress-record replace, rename) in a child; the parent restarts, resumes
 * and must end with the exact bytes, re-receiving at most one fsync
 * interval plus one chunk. */
static void test_crash_resume_every_op(void **state)
{
	struct fixture *f = *state;
	const size_t size = MIB + 12345, chunk = 32 * 1024;
	const uint64_t interval = 128 * 1024;
	uint8_t *data = make_data(size, 7);
	struct snapshot_ident id = ident_for(data, size, 77, 4);
	char errmsg[MA_ERRMSG_SIZE], cmd[256];
	struct snapshot_receiver *r;
	long total_ops;
	uint64_t off;
	int resumed_mid = 0;

	/* Count the operations of one full receive. */
	r = open_receiver(f, interval);
	io_crash_set(0);
	assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg), 0);
	assert_int_equal(feed_range(r, &id, data, 0, chunk, -1, errmsg), 1);
	total_ops = io_crash_ops();
	snapshot_receiver_close(r);
	assert_true(total_ops > 20);

	for (long n = 1; n <= total_ops; n++) {
		uint64_t accepted = 0, got;
		int fds[2], status, rc;
		pid_t pid;

		snapshot_store_close(f->store);
		snprintf(cmd, sizeof cmd, "rm -rf '%s/recv' '%s'", f->dir,
		         f->store_dir);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(
		    snapshot_store_open(f->store_dir, &f->store, errmsg), 0);
		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			r = open_receiver(f, interval);
			io_crash_set(n);
			if (snapshot_receiver_begin(r, &id, &off, errmsg) != 0)
				_exit(2);
			rc = feed_range(r, &id, data, 0, chunk, fds[1], errmsg);
			_exit(rc == 1 ? 0 : 3);
		}
		close(fds[1]);
		while (read(fds[0], &got, sizeof got) == sizeof got)
			accepted = got;
		close(fds[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) ||
		    WEXITSTATUS(status) != IO_CRASH_EXIT_CODE)
			fail_msg("crash point %ld: child status 0x%x", n,
			         status);

		/* Restart. */
		snapshot_store_close(f->store);
		assert_int_equal(
		    snapshot_store_open(f->store_dir, &f->store, errmsg), 0);
		r = open_receiver(f, interval);
		rc = snapshot_receiver_begin(r, &id, &off, errmsg);
		if (rc < 0)
			fail_msg("crash point %ld: begin: %s", n, errmsg);
		if (rc == 0) {
			if (accepted > off && accepted - off > interval + chunk)
				fail_msg("crash point %ld: resumed at %" PRIu64
				         " after %" PRIu64 " accepted",
				         n, off, accepted);
			if (off > 0)
				resumed_mid++;
			rc = feed_range(r, &id, data, off, chunk, -1, errmsg);
			if (rc != 1)
				fail_msg("crash point %ld: resume from %" PRIu64
				         ": %d %s",
				         n, off, rc, errmsg);
		} else {
			assert_int_equal(off, size);
		}
		snapshot_receiver_close(r);
		assert_committed(f->store, &id, data);
		assert_false(recv_file_exists(f->dir, "kv.partial"));
	}
	print_message("crash points: %ld, resumed mid-file: %d\n", total_ops,
	              resumed_mid);
	assert_true(resumed_mid > total_ops / 2);
	free(data);
}

static void test_different_identity_starts_fresh(void **state)
{
	struct fixture *f = *state;
	size_t size = 600000;
	uint8_t *a = make_data(size, 8), *b = make_data(size - 1000, 9);
	struct snapshot_ident ida = ident_for(a, size, 10, 1);
	struct snapshot_ident idb = ident_for(b, size - 1000, 12, 1);
	char errmsg[MA_ERRMSG_SIZE], path[256];
	struct snapshot_receiver *r = open_receiver(f, 65536);
	struct snapshot_chunk env;
	struct stat st;
	uint64_t off;

	assert_int_equal(snapshot_receiver_begin(r, &ida, &off, errmsg), 0);
	assert_int_equal(off, 0);
	for (off = 0; off < 300000; off += 50000) {
		env = chunk_env(&ida, a, off, 50000);
		assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg), 0);
	}
	snapshot_receiver_close(r);

	/* Same identity resumes at the durable offset... */
	r = open_receiver(f, 65536);
	assert_int_equal(snapshot_receiver_begin(r, &ida, &off, errmsg), 0);
	assert_true(off > 0 && off <= 300000);
	snapshot_receiver_close(r);
	/* ...another starts over and drops A's bytes. */
	r = open_receiver(f, 65536);
	assert_int_equal(snapshot_receiver_begin(r, &idb, &off, errmsg), 0);
	assert_int_equal(off, 0);
	snprintf(path, sizeof path, "%s/recv/kv.partial", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(feed_range(r, &idb, b, 0, 50000, -1, errmsg), 1);
	assert_committed(f->store, &idb, b);
	snapshot_receiver_close(r);
	/* A database the receiver is not for. */
	r = open_receiver(f, 65536);
	strcpy(ida.database_id, "other");
	assert_int_equal(snapshot_receiver_begin(r, &ida, &off, errmsg),
	                 MA_ERR_IDENTITY);
	snapshot_receiver_close(r);
	free(a);
	free(b);
}

static void test_enospc_injected(void **state)
{
	struct fixture *f = *state;
	size_t size = 400000, chunk = 16384;
	uint8_t *data = make_data(size, 10);
	struct snapshot_ident id = ident_for(data, size, 3, 3);
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_receiver *r = open_receiver(f, 65536);
	struct snapshot_chunk env;
	uint64_t off;

	/* Write 1: fresh record; 2-5: chunks; 6: record at 64 KiB; 7-10:
	 * chunks. The 10th write and all later ones fail. */
	io_fault_set(IO_FAULT_WRITE, 10, -1, ENOSPC);
	assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg), 0);
	assert_int_equal(feed_range(r, &id, data, 0, chunk, -1, errmsg),
	                 MA_ERR_NOSPACE);
	assert_non_null(strstr(errmsg, "No space left"));
	assert_non_null(strstr(errmsg, "free space"));
	env = chunk_env(&id, data, snapshot_receiver_offset(r), chunk);
	assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg),
	                 MA_ERR_FAILED);
	assert_no_snapshot(f->store);
	snapshot_receiver_close(r);

	io_fault_clear();
	r = open_receiver(f, 65536);
	assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg), 0);
	assert_int_equal(off, 65536);
	assert_int_equal(feed_range(r, &id, data, off, chunk, -1, errmsg), 1);
	assert_committed(f->store, &id, data);
	snapshot_receiver_close(r);
	free(data);
}

/* A real full disk: a 4 MiB tmpfs with a 2 MiB filler and a 3 MiB
 * snapshot. Needs root and permission to mount; skips otherwise. */
static void test_enospc_tmpfs(void **state)
{
	struct fixture *f = *state;
	size_t size = 3 * MIB, chunk = 65536;
	uint8_t *data = make_data(size, 11);
	struct snapshot_ident id = ident_for(data, size, 4, 4);
	char errmsg[MA_ERRMSG_SIZE], mnt[128], sdir[160], filler[160];
	struct snapshot_store *store;
	struct snapshot_receiver *r;
	struct events ev = {.monotonic = true};
	uint8_t *fill;
	uint64_t off;
	int rc;

	snprintf(mnt, sizeof mnt, "%s/mnt", f->dir);
	assert_int_equal(mkdir(mnt, 0755), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=4m") != 0) {
		print_message("mount tmpfs: %s; skipping the real ENOSPC "
		              "test (needs root and mount permission)\n",
		              strerror(errno));
		free(data);
		skip();
	}
	snprintf(sdir, sizeof sdir, "%s/snapshots", mnt);
	snprintf(filler, sizeof filler, "%s/filler", mnt);
	fill = make_data(2 * MIB, 12);
	{
		int fd = open(filler, O_WRONLY | O_CREAT, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, fill, 2 * MIB), 2 * MIB);
		close(fd);
	}
	free(fill);
	assert_int_equal(snapshot_store_open(sdir, &store, errmsg), 0);
	r = open_receiver_in(mnt, store, &ev, 256 * 1024);
	assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg), 0);
	rc = feed_range(r, &id, data, 0, chunk, -1, errmsg);
	if (rc != MA_ERR_NOSPACE)
		fail_msg("expected MA_ERR_NOSPACE, got %d: %s", rc, errmsg);
	assert_non_null(strstr(errmsg, "free space"));
	assert_no_snapshot(store);
	snapshot_receiver_close(r);

	assert_int_equal(unlink(filler), 0);
	r = open_receiver_in(mnt, store, &ev, 256 * 1024);
	assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg), 0);
	assert_true(off > 0);
	rc = feed_range(r, &id, data, off, chunk, -1, errmsg);
	if (rc != 1)
		fail_msg("resume after freeing space: %d %s", rc, errmsg);
	assert_committed(store, &id, data);
	snapshot_receiver_close(r);
	snapshot_store_close(store);
	assert_int_equal(umount(mnt), 0);
	free(data);
}

static void test_abort_removes_partial(void **state)
{
	struct fixture *f = *state;
	size_t size = 100000;
	uint8_t *data = make_data(size, 13);
	struct snapshot_ident id = ident_for(data, size, 2, 2);
	struct snapshot_receiver *r = open_receiver(f, 0);
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_chunk env = chunk_env(&id, data, 0, 50000);

	assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg), 0);
	assert_true(recv_file_exists(f->dir, "kv.partial"));
	assert_int_equal(snapshot_receiver_abort(r, errmsg), 0);
	assert_false(recv_file_exists(f->dir, "kv.partial"));
	assert_false(recv_file_exists(f->dir, "kv.progress"));
	env = chunk_env(&id, data, 50000, 50000);
	assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg),
	                 MA_ERR_OFFSET);
	snapshot_receiver_close(r);
	free(data);
}

/* Sender from an arbitrary offset yields exactly the rest of the file. */
static void test_sender_from_offset(void **state)
{
	struct fixture *f = *state;
	size_t size = 1000003;
	uint8_t *data = make_data(size, 14), *out = calloc(1, size);
	struct snapshot_ident id = ident_for(data, size, 8, 1);
	char errmsg[MA_ERRMSG_SIZE], path[256];
	struct snapshot_sender *s;
	struct snapshot_chunk env;
	struct snapshot_meta m;
	uint64_t next = 12345;
	int rc, done = 0;

	assert_int_equal(snapshot_store_create_from_buf(f->store, &id, data,
	                                                size, 0, &m, errmsg),
	                 0);
	assert_true(snapshot_ident_equal(&m.id, &id));
	snapshot_store_path(f->store, 8, 1, path, sizeof path);
	assert_int_equal(
	    snapshot_sender_open(path, &id, next, 100000, &s, errmsg), 0);
	while ((rc = snapshot_sender_next(s, &env, errmsg)) == 1) {
		assert_int_equal(env.offset, next);
		assert_int_equal(env.crc32c, crc32c(env.data, env.data_len));
		if (env.data_len > 0)
			memcpy(out + env.offset, env.data, env.data_len);
		next += env.data_len;
		if (env.done) {
			assert_int_equal(env.data_len, 0);
			assert_int_equal(env.offset, size);
			done++;
		}
	}
	assert_int_equal(rc, 0);
	assert_int_equal(done, 1);
	assert_memory_equal(out + 12345, data + 12345, size - 12345);
	snapshot_sender_close(s);
	assert_int_equal(
	    snapshot_sender_open(path, &id, size + 1, 0, &s, errmsg),
	    MA_ERR_INVAL);
	free(out);
	free(data);
}

/* Sender -> receiver, interrupted, then a new receiver and a sender from
 * the offset it asks for: the committed file is identical. */
static void test_sender_resume_identical(void **state)
{
	struct fixture *f = *state;
	size_t size = 2 * MIB + 4321;
	uint8_t *data = make_data(size, 15);
	struct snapshot_ident id = ident_for(data, size, 30, 2);
	char errmsg[MA_ERRMSG_SIZE], path[256], src_dir[128];
	struct snapshot_store *src;
	struct snapshot_receiver *r;
	struct snapshot_sender *s;
	struct snapshot_chunk env;
	uint64_t off;
	int rc;

	snprintf(src_dir, sizeof src_dir, "%s/source", f->dir);
	assert_int_equal(snapshot_store_open(src_dir, &src, errmsg), 0);
	assert_int_equal(snapshot_store_create_from_buf(src, &id, data, size, 0,
	                                                NULL, errmsg),
	                 0);
	snapshot_store_path(src, 30, 2, path, sizeof path);
	assert_int_equal(snapshot_store_pin(src, 30, 2, errmsg), 0);

	r = open_receiver(f, 256 * 1024);
	assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg), 0);
	assert_int_equal(
	    snapshot_sender_open(path, &id, off, 96 * 1024, &s, errmsg), 0);
	while (snapshot_sender_offset(s) < size / 2) {
		assert_int_equal(snapshot_sender_next(s, &env, errmsg), 1);
		assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg), 0);
	}
	snapshot_sender_close(s);
	snapshot_receiver_close(r);

	r = open_receiver(f, 256 * 1024);
	assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg), 0);
	assert_true(off > 0 && off < size / 2 + 96 * 1024);
	assert_int_equal(off % (256 * 1024) < 96 * 1024 ||
	                     off == snapshot_receiver_durable_offset(r),
	                 1);
	assert_int_equal(
	    snapshot_sender_open(path, &id, off, 96 * 1024, &s, errmsg), 0);
	while ((rc = snapshot_sender_next(s, &env, errmsg)) >= 1) {
		if (rc == 2) /* the sender reads its prefix */
			continue;
		rc = snapshot_receiver_feed(r, &env, 0, errmsg);
		if (rc == 2)
			rc = verify_all(r, errmsg);
		if (rc != 0)
			break;
	}
	assert_int_equal(rc, 1);
	assert_false(snapshot_sender_verifying(s));
	assert_int_equal(snapshot_sender_verified(s), off);
	assert_committed(f->store, &id, data);
	snapshot_sender_close(s);
	snapshot_receiver_close(r);
	assert_int_equal(snapshot_store_unpin(src, 30, 2), 0);
	snapshot_store_close(src);
	free(data);
}

/* The sender notices a file rewritten under it and sends no {done}. */
static void test_sender_detects_change(void **state)
{
	struct fixture *f = *state;
	size_t size = 300000;
	uint8_t *data = make_data(size, 16);
	struct snapshot_ident id = ident_for(data, size, 8, 1);
	char errmsg[MA_ERRMSG_SIZE], path[256];
	struct snapshot_sender *s;
	struct snapshot_chunk env;
	int fd, rc;

	assert_int_equal(snapshot_store_create_from_buf(f->store, &id, data,
	                                                size, 0, NULL, errmsg),
	                 0);
	snapshot_store_path(f->store, 8, 1, path, sizeof path);
	assert_int_equal(snapshot_sender_open(path, &id, 0, 65536, &s, errmsg),
	                 0);
	assert_int_equal(snapshot_sender_next(s, &env, errmsg), 1);
	fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, "changed", 7, 200000), 7);
	close(fd);
	while ((rc = snapshot_sender_next(s, &env, errmsg)) == 1)
		assert_false(env.done);
	assert_int_equal(rc, MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "CRC32C"));
	snapshot_sender_close(s);

	/* Shrunk under the sender. */
	assert_int_equal(snapshot_sender_open(path, &id, 0, 65536, &s, errmsg),
	                 0);
	assert_int_equal(truncate(path, 100000), 0);
	while ((rc = snapshot_sender_next(s, &env, errmsg)) == 1)
		assert_false(env.done);
	assert_int_equal(rc, MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "changed"));
	snapshot_sender_close(s);
	free(data);
}

/* ---- resume without a long synchronous re-read (issue 8 item 4) ----
 *
 * begin() trusts the durable prefix of a .partial without reading it;
 * snapshot_receiver_verify reads it back in slices, region by region
 * (a region ends at each durable offset; kv.marks holds the running
 * CRC32C at each). What is detected: any byte of the durable prefix that
 * differs on disk from what arrived, before the verification reads it
 * (a region's running CRC then differs from the recorded one: the
 * resume point goes back to the region's start), a .partial shorter than
 * a mark, and -- through the final CRC32C, the recorded prefix CRC
 * extended with the bytes that arrived since and compared with the
 * source's total_crc32c -- marks and a progress record that agree with
 * each other and the disk but not with the snapshot. What is not: a
 * change to a region after the verification read it and before the
 * commit's fsync (as for bytes never re-read in a receive without a
 * resume). A marks file that is missing, torn or corrupt costs
 * granularity only: the whole prefix is one region checked against the
 * progress record's CRC, still in slices. */

#define RES_SIZE 600000
#define RES_IVL 65536 /* fsync interval: a region every 64 KiB */
#define RES_CHUNK 16384
/* kv.marks: a header (a progress record naming the snapshot), then one
 * 24-byte mark per durable offset. */
#define MHDR SNAPSHOT_PROGRESS_SIZE

/* Receives [0, upto) of data, closes the receiver (a crash after the
 * last fsync) and returns the durable offset. */
static uint64_t receive_part(struct fixture *f, const struct snapshot_ident *id,
                             const uint8_t *data, uint64_t upto)
{
	struct snapshot_receiver *r = open_receiver(f, RES_IVL);
	char errmsg[MA_ERRMSG_SIZE];
	uint64_t off, durable;

	assert_int_equal(snapshot_receiver_begin(r, id, &off, errmsg), 0);
	assert_int_equal(off, 0);
	for (off = 0; off < upto; off += RES_CHUNK) {
		struct snapshot_chunk env = chunk_env(id, data, off, RES_CHUNK);
		assert_int_equal(snapshot_receiver_feed(r, &env, 0, errmsg), 0);
	}
	durable = snapshot_receiver_durable_offset(r);
	snapshot_receiver_close(r);
	return durable;
}

static void flip_byte(const char *dir, const char *name, uint64_t at)
{
	char path[512];
	uint8_t b;
	int fd;

	snprintf(path, sizeof path, "%s/recv/%s", dir, name);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)at), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)at), 1);
	close(fd);
}

static off_t recv_file_size(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof path, "%s/recv/%s", dir, name);
	if (stat(path, &st) != 0)
		return -1;
	return st.st_size;
}

/* Feeds [from, size) and done without verifying in between: returns
 * feed's answer for the done chunk. */
static int feed_rest(struct snapshot_receiver *r,
                     const struct snapshot_ident *id, const uint8_t *data,
                     uint64_t from, char *errmsg)
{
	struct snapshot_chunk env;
	int rc;

	for (uint64_t off = from; off < id->size; off += RES_CHUNK) {
		size_t n =
		    id->size - off < RES_CHUNK ? id->size - off : RES_CHUNK;
		env = chunk_env(id, data, off, n);
		rc = snapshot_receiver_feed(r, &env, 0, errmsg);
		if (rc != 0)
			return rc;
	}
	env = chunk_env(id, data, id->size, 0);
	env.done = true;
	return snapshot_receiver_feed(r, &env, 0, errmsg);
}

/* The resume reads nothing; the verification goes in slices of the
 * budget given; the done chunk waits for it (2), the last slice commits. */
static void test_resume_verifies_in_slices(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = make_data(RES_SIZE, 21);
	struct snapshot_ident id = ident_for(data, RES_SIZE, 40, 2);
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_receiver *r;
	uint64_t durable, off;
	int calls = 0, rc;

	durable = receive_part(f, &id, data, 400000);
	assert_int_equal(durable, 6 * RES_IVL);
	assert_int_equal(recv_file_size(f->dir, "kv.marks"), MHDR + 6 * 24);
	r = open_receiver(f, RES_IVL);
	assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg), 0);
	assert_int_equal(off, durable);
	assert_true(snapshot_receiver_verifying(r));
	assert_int_equal(feed_rest(r, &id, data, off, errmsg), 2);
	assert_no_snapshot(f->store);
	assert_int_equal(f->ev.complete, 0);
	while ((rc = snapshot_receiver_verify(r, 10000, 5, errmsg)) == 0) {
		calls++;
		assert_true(calls < 1000);
	}
	assert_int_equal(rc, 1);
	/* Each call read at most its budget: ceil(393216 / 10000). */
	assert_int_equal(calls + 1, (6 * RES_IVL + 9999) / 10000);
	assert_false(snapshot_receiver_verifying(r));
	assert_int_equal(f->ev.complete, 1);
	assert_committed(f->store, &id, data);
	assert_false(recv_file_exists(f->dir, "kv.marks"));
	assert_false(recv_file_exists(f->dir, "kv.progress"));
	snapshot_receiver_close(r);
	free(data);
}

/* A byte flipped in the trusted prefix while the mirror was down: the
 * resume still starts at the durable offset (nothing is read), the
 * verification finds the region and rewinds to its start, durably; the
 * snapshot is never committed with the flipped byte. Flips in the newest
 * region (checked first) and in an older one. */
static void test_resume_flipped_prefix_byte(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = make_data(RES_SIZE, 22);
	struct snapshot_ident id = ident_for(data, RES_SIZE, 41, 2);
	const uint64_t flips[] = {5 * RES_IVL + 100, RES_IVL + 7};
	char errmsg[MA_ERRMSG_SIZE];

	for (size_t k = 0; k < 2; k++) {
		uint64_t region = flips[k] / RES_IVL * RES_IVL;
		struct snapshot_receiver *r;
		uint64_t durable, off;
		int rc;

		durable = receive_part(f, &id, data, 400000);
		flip_byte(f->dir, "kv.partial", flips[k]);
		r = open_receiver(f, RES_IVL);
		assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg),
		                 0);
		assert_int_equal(off, durable);
		/* Every byte arrives; the CRC chain matches (the flip is
		 * not in it): only the read-back can see it. */
		assert_int_equal(feed_rest(r, &id, data, off, errmsg), 2);
		rc = verify_all(r, errmsg);
		assert_int_equal(rc, MA_ERR_CRC);
		assert_non_null(strstr(errmsg, "read back with CRC32C"));
		assert_int_equal(snapshot_receiver_offset(r), region);
		assert_int_equal(snapshot_receiver_durable_offset(r), region);
		assert_no_snapshot(f->store);
		assert_int_equal(recv_file_size(f->dir, "kv.partial"),
		                 (off_t)region);
		assert_int_equal(recv_file_size(f->dir, "kv.marks"),
		                 (off_t)(MHDR + region / RES_IVL * 24));
		/* A new begin() (also a new process) resumes there. */
		snapshot_receiver_close(r);
		r = open_receiver(f, RES_IVL);
		assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg),
		                 0);
		assert_int_equal(off, region);
		assert_int_equal(
		    feed_range(r, &id, data, off, RES_CHUNK, -1, errmsg), 1);
		assert_committed(f->store, &id, data);
		snapshot_receiver_close(r);
		/* Next case from scratch. */
		{
			char cmd[256];
			snapshot_store_close(f->store);
			snprintf(cmd, sizeof cmd, "rm -rf '%s/recv' '%s'",
			         f->dir, f->store_dir);
			assert_int_equal(system(cmd), 0);
			assert_int_equal(snapshot_store_open(f->store_dir,
			                                     &f->store, errmsg),
			                 0);
		}
	}
	free(data);
}

/* A garbled mark in the middle, a torn last mark, a missing marks file,
 * a garbled header: the resume point is the last mark of the valid
 * prefix (the marks file is cut there), or 0 when there is none. A
 * garbled mark with a flipped byte before it in the .partial: the
 * read-back finds the flip and rewinds to its region. */
static void test_resume_bad_marks(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = make_data(RES_SIZE, 23);
	struct snapshot_ident id = ident_for(data, RES_SIZE, 42, 2);
	char errmsg[MA_ERRMSG_SIZE], path[512], cmd[256];
	/* resume point and marks kept, per case */
	const uint64_t want[5] = {2 * RES_IVL, 5 * RES_IVL, 0, 0, 2 * RES_IVL};

	snprintf(path, sizeof path, "%s/recv/kv.marks", f->dir);
	for (int k = 0; k < 5; k++) {
		struct snapshot_receiver *r;
		uint64_t durable, off;

		durable = receive_part(f, &id, data, 400000);
		assert_int_equal(durable, 6 * RES_IVL);
		assert_int_equal(recv_file_size(f->dir, "kv.marks"),
		                 MHDR + 6 * 24);
		if (k == 0 || k == 4) /* mark 2 garbled */
			flip_byte(f->dir, "kv.marks", MHDR + 2 * 24 + 9);
		else if (k == 1) /* torn: the last record half written */
			assert_int_equal(truncate(path, MHDR + 5 * 24 + 11), 0);
		else if (k == 2) /* missing */
			assert_int_equal(unlink(path), 0);
		else /* the header garbled */
			flip_byte(f->dir, "kv.marks", 60);
		if (k == 4)
			flip_byte(f->dir, "kv.partial", RES_IVL + 1);
		r = open_receiver(f, RES_IVL);
		assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg),
		                 0);
		assert_int_equal(off, want[k]);
		assert_int_equal(recv_file_size(f->dir, "kv.partial"),
		                 (off_t)want[k]);
		assert_int_equal(recv_file_size(f->dir, "kv.marks"),
		                 (off_t)(MHDR + want[k] / RES_IVL * 24));
		assert_int_equal(snapshot_receiver_verifying(r), want[k] > 0);
		if (k == 4) {
			assert_int_equal(feed_rest(r, &id, data, off, errmsg),
			                 2);
			assert_int_equal(verify_all(r, errmsg), MA_ERR_CRC);
			assert_int_equal(snapshot_receiver_offset(r), RES_IVL);
			assert_no_snapshot(f->store);
			assert_int_equal(
			    snapshot_receiver_begin(r, &id, &off, errmsg), 0);
			assert_int_equal(off, RES_IVL);
		}
		assert_int_equal(
		    feed_range(r, &id, data, off, RES_CHUNK, -1, errmsg), 1);
		assert_committed(f->store, &id, data);
		snapshot_receiver_close(r);
		snapshot_store_close(f->store);
		snprintf(cmd, sizeof cmd, "rm -rf '%s/recv' '%s'", f->dir,
		         f->store_dir);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(
		    snapshot_store_open(f->store_dir, &f->store, errmsg), 0);
	}
	free(data);
}

/* A .partial truncated below the durable offset before the restart
 * resumes from the last mark the file still reaches; one truncated below
 * a mark while the prefix is being verified rewinds to the region the
 * file ends in. */
static void test_resume_partial_truncated(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = make_data(RES_SIZE, 24);
	struct snapshot_ident id = ident_for(data, RES_SIZE, 43, 2);
	char errmsg[MA_ERRMSG_SIZE], path[512];
	struct snapshot_receiver *r;
	uint64_t durable, off;

	snprintf(path, sizeof path, "%s/recv/kv.partial", f->dir);
	durable = receive_part(f, &id, data, 400000);
	assert_int_equal(truncate(path, (off_t)durable - 1), 0);
	r = open_receiver(f, RES_IVL);
	assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg), 0);
	assert_int_equal(off, durable - RES_IVL);
	assert_true(snapshot_receiver_verifying(r));
	assert_int_equal(recv_file_size(f->dir, "kv.marks"),
	                 (off_t)(MHDR + (durable / RES_IVL - 1) * 24));
	assert_int_equal(recv_file_size(f->dir, "kv.partial"),
	                 (off_t)(durable - RES_IVL));
	assert_int_equal(snapshot_receiver_abort(r, errmsg), 0);
	snapshot_receiver_close(r);

	durable = receive_part(f, &id, data, 400000);
	r = open_receiver(f, RES_IVL);
	assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg), 0);
	assert_int_equal(off, durable);
	/* The newest region reads back whole, then the file shrinks into
	 * region 2 ([128 KiB, 192 KiB)). */
	assert_int_equal(snapshot_receiver_verify(r, RES_IVL, 0, errmsg), 0);
	assert_int_equal(truncate(path, 2 * RES_IVL + 5), 0);
	assert_int_equal(verify_all(r, errmsg), MA_ERR_CRC);
	assert_non_null(strstr(errmsg, "end early"));
	assert_int_equal(snapshot_receiver_offset(r), 2 * RES_IVL);
	assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg), 0);
	assert_int_equal(off, 2 * RES_IVL);
	assert_int_equal(feed_range(r, &id, data, off, RES_CHUNK, -1, errmsg),
	                 1);
	assert_committed(f->store, &id, data);
	snapshot_receiver_close(r);
	free(data);
}

/* ---- the layout before 2026-11-29 ----
 *
 * It kept the resume point in a two-slot kv.progress record (rewritten
 * at every sync point) beside a kv.marks of bare mark records. A
 * receiver of the current layout converts it once into a kv.marks with a
 * header and removes kv.progress, or starts over when it names another
 * snapshot or holds no valid record. */

static void put_file(const char *dir, const char *name, const void *buf,
                     size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof path, "%s/recv/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static uint32_t get_le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

/* Receives [0, 400000) of data (6 marks), then rewrites recv/ as the old
 * layout would have left it: kv.progress with the record of seq 4 (6
 * marks) in slot 0 and of seq 3 (5 marks) in slot 1; kv.marks with the
 * bare records. Returns the running CRC at each mark in crcs[6]. */
static void make_old_layout(struct fixture *f, const struct snapshot_ident *id,
                            const uint8_t *data, uint32_t crcs[6])
{
	uint8_t marks[MHDR + 6 * 24], prog[SNAPSHOT_PROGRESS_SLOT + MHDR];
	struct snapshot_progress p;
	char path[512];
	int fd;

	assert_int_equal(receive_part(f, id, data, 400000), 6 * RES_IVL);
	snprintf(path, sizeof path, "%s/recv/kv.marks", f->dir);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, marks, sizeof marks), sizeof marks);
	close(fd);
	for (int i = 0; i < 6; i++)
		crcs[i] = get_le32(marks + MHDR + i * 24 + 16);
	memset(prog, 0, sizeof prog);
	memset(&p, 0, sizeof p);
	p.id = *id;
	p.seq = 4;
	p.durable_offset = 6 * RES_IVL;
	p.running_crc32c = crcs[5];
	snapshot_progress_encode(&p, prog);
	p.seq = 3;
	p.durable_offset = 5 * RES_IVL;
	p.running_crc32c = crcs[4];
	snapshot_progress_encode(&p, prog + SNAPSHOT_PROGRESS_SLOT);
	put_file(f->dir, "kv.progress", prog, sizeof prog);
	put_file(f->dir, "kv.marks", marks + MHDR, 6 * 24);
}

static void reset_dirs(struct fixture *f)
{
	char cmd[512], errmsg[MA_ERRMSG_SIZE];

	snapshot_store_close(f->store);
	snprintf(cmd, sizeof cmd, "rm -rf '%s/recv' '%s'", f->dir,
	         f->store_dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(snapshot_store_open(f->store_dir, &f->store, errmsg),
	                 0);
}

/* Each case: what begin() resumes at, how many marks the converted file
 * holds, and whether the read-back must find a flipped byte. */
static void test_resume_old_layout(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = make_data(RES_SIZE, 27);
	struct snapshot_ident id = ident_for(data, RES_SIZE, 46, 2);
	char errmsg[MA_ERRMSG_SIZE], path[512];
	enum {
		WHOLE,       /* consistent: resume at the newest record */
		NO_MARKS,    /* kv.marks gone: one region */
		TORN_NEWEST, /* newest slot torn: the older one (5 marks) */
		BAD_SLOTS,   /* both slots garbled: start over */
		OTHER,       /* names another snapshot: start over */
		FLIPPED,     /* a flipped .partial byte: read-back rewinds */
		HALF_DONE,   /* converted, but kv.progress was not removed */
		NCASES
	};
	const uint64_t want_off[NCASES] = {
	    6 * RES_IVL, 6 * RES_IVL, 5 * RES_IVL, 0,
	    0,           6 * RES_IVL, 6 * RES_IVL};
	const size_t want_marks[NCASES] = {6, 1, 5, 0, 0, 6, 6};
	uint32_t crcs[6];

	snprintf(path, sizeof path, "%s/recv/kv.marks", f->dir);
	for (int k = 0; k < NCASES; k++) {
		struct snapshot_receiver *r;
		uint64_t off;
		uint8_t saved[MHDR + 6 * 24];

		reset_dirs(f);
		make_old_layout(f, &id, data, crcs);
		if (k == NO_MARKS) {
			assert_int_equal(unlink(path), 0);
		} else if (k == TORN_NEWEST) {
			flip_byte(f->dir, "kv.progress", 100);
		} else if (k == BAD_SLOTS) {
			flip_byte(f->dir, "kv.progress", 100);
			flip_byte(f->dir, "kv.progress",
			          SNAPSHOT_PROGRESS_SLOT + 100);
		} else if (k == OTHER) {
			struct snapshot_progress p;
			uint8_t rec[MHDR];

			memset(&p, 0, sizeof p);
			p.id = id;
			p.id.index++;
			p.seq = 9;
			p.durable_offset = 6 * RES_IVL;
			p.running_crc32c = crcs[5];
			snapshot_progress_encode(&p, rec);
			put_file(f->dir, "kv.progress", rec, sizeof rec);
		} else if (k == FLIPPED) {
			flip_byte(f->dir, "kv.partial", RES_IVL + 5);
		} else if (k == HALF_DONE) {
			/* Convert, keep the result, put kv.progress back
			 * with a newer-looking but older resume point. */
			struct snapshot_progress p;
			uint8_t rec[MHDR];
			int fd;

			r = open_receiver(f, RES_IVL);
			assert_int_equal(
			    snapshot_receiver_begin(r, &id, &off, errmsg), 0);
			snapshot_receiver_close(r);
			fd = open(path, O_RDONLY);
			assert_true(fd >= 0);
			assert_int_equal(read(fd, saved, sizeof saved),
			                 sizeof saved);
			close(fd);
			memset(&p, 0, sizeof p);
			p.id = id;
			p.seq = 99;
			p.durable_offset = RES_IVL;
			p.running_crc32c = crcs[0];
			snapshot_progress_encode(&p, rec);
			put_file(f->dir, "kv.progress", rec, sizeof rec);
		}
		r = open_receiver(f, RES_IVL);
		assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg),
		                 0);
		assert_int_equal(off, want_off[k]);
		assert_false(recv_file_exists(f->dir, "kv.progress"));
		assert_false(recv_file_exists(f->dir, "kv.marks.tmp"));
		assert_int_equal(recv_file_size(f->dir, "kv.marks"),
		                 (off_t)(MHDR + want_marks[k] * 24));
		assert_int_equal(recv_file_size(f->dir, "kv.partial"),
		                 (off_t)off);
		assert_int_equal(snapshot_receiver_verifying(r), off > 0);
		if (want_marks[k] > 0) {
			/* The converted file holds the old marks after a
			 * header naming the snapshot. */
			struct snapshot_progress h;
			uint8_t got[MHDR + 6 * 24];
			int fd = open(path, O_RDONLY);

			assert_true(fd >= 0);
			assert_int_equal(read(fd, got, sizeof got),
			                 (ssize_t)(MHDR + want_marks[k] * 24));
			close(fd);
			assert_int_equal(
			    snapshot_progress_decode(got, MHDR, &h, errmsg), 0);
			assert_true(snapshot_ident_equal(&h.id, &id));
			assert_int_equal(h.durable_offset, 0);
			assert_int_equal(get_le32(got + MHDR +
			                          (want_marks[k] - 1) * 24 +
			                          16),
			                 crcs[off / RES_IVL - 1]);
			if (k == HALF_DONE)
				assert_memory_equal(got, saved, sizeof got);
		}
		if (k == FLIPPED) {
			assert_int_equal(feed_rest(r, &id, data, off, errmsg),
			                 2);
			assert_int_equal(verify_all(r, errmsg), MA_ERR_CRC);
			assert_int_equal(snapshot_receiver_offset(r), RES_IVL);
			assert_int_equal(
			    snapshot_receiver_begin(r, &id, &off, errmsg), 0);
			assert_int_equal(off, RES_IVL);
			assert_int_equal(feed_range(r, &id, data, off,
			                            RES_CHUNK, -1, errmsg),
			                 1);
		} else {
			assert_int_equal(feed_rest(r, &id, data, off, errmsg),
			                 off > 0 ? 2 : 1);
			if (off > 0)
				assert_int_equal(verify_all(r, errmsg), 1);
		}
		assert_committed(f->store, &id, data);
		assert_false(recv_file_exists(f->dir, "kv.marks"));
		snapshot_receiver_close(r);
	}
	free(data);
}

/* A crash at every durability operation of the conversion and of the
 * receive after it: each restart resumes (from the old or the new
 * layout) or starts over, and commits exactly the source's bytes. */
static void test_crash_converting_old_layout(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = make_data(RES_SIZE, 28);
	struct snapshot_ident id = ident_for(data, RES_SIZE, 47, 2);
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_receiver *r;
	long total_ops = 0;
	int resumed = 0;
	uint32_t crcs[6];
	uint64_t off;

	/* Operations of begin() (the conversion) and the rest. */
	reset_dirs(f);
	make_old_layout(f, &id, data, crcs);
	r = open_receiver(f, RES_IVL);
	io_crash_set(0);
	assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg), 0);
	assert_int_equal(off, 6 * RES_IVL);
	assert_int_equal(feed_rest(r, &id, data, off, errmsg), 2);
	assert_int_equal(verify_all(r, errmsg), 1);
	total_ops = io_crash_ops();
	snapshot_receiver_close(r);
	assert_true(total_ops > 5);

	for (long n = 1; n <= total_ops; n++) {
		int status, rc;
		pid_t pid;

		reset_dirs(f);
		make_old_layout(f, &id, data, crcs);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			io_crash_set(n);
			r = open_receiver(f, RES_IVL);
			if (snapshot_receiver_begin(r, &id, &off, errmsg) != 0)
				_exit(2);
			rc = feed_rest(r, &id, data, off, errmsg);
			if (rc == 2)
				rc = verify_all(r, errmsg);
			_exit(rc == 1 ? 0 : 3);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) ||
		    WEXITSTATUS(status) != IO_CRASH_EXIT_CODE)
			fail_msg("crash point %ld: child status 0x%x", n,
			         status);
		r = open_receiver(f, RES_IVL);
		rc = snapshot_receiver_begin(r, &id, &off, errmsg);
		if (rc == 0) {
			/* Never behind the old layout's own resume point
			 * unless it started over. */
			if (off != 0 && off < 6 * RES_IVL)
				fail_msg("crash point %ld: resumed at %" PRIu64,
				         n, off);
			if (off > 0)
				resumed++;
			rc = feed_rest(r, &id, data, off, errmsg);
			if (rc == 2)
				rc = verify_all(r, errmsg);
			if (rc != 1)
				fail_msg("crash point %ld: resume from %" PRIu64
				         ": %d %s",
				         n, off, rc, errmsg);
		} else if (rc != 1) {
			fail_msg("crash point %ld: begin: %s", n, errmsg);
		}
		snapshot_receiver_close(r);
		assert_committed(f->store, &id, data);
		assert_false(recv_file_exists(f->dir, "kv.progress"));
	}
	print_message("crash points converting the old layout: %ld, "
	              "resumed: %d\n",
	              total_ops, resumed);
	assert_true(resumed >= total_ops / 2);
	free(data);
}

/* The marks file is fdatasynced at every marks_sync_every-th mark: with
 * 16 sync points, 1 sync per mark costs 12 durability operations more
 * than the default 4 (every write and sync is one; nothing else may
 * differ). A power cut that loses the marks after the last synced one
 * moves the resume point back to it, and the receive ends right. */
static void test_marks_sync_every(void **state)
{
	struct fixture *f = *state;
	const size_t size = 16 * RES_IVL + 100;
	uint8_t *data = make_data(size, 29);
	struct snapshot_ident id = ident_for(data, size, 48, 2);
	char errmsg[MA_ERRMSG_SIZE], path[512];
	long ops[2];
	uint64_t off;

	for (int k = 0; k < 2; k++) {
		struct snapshot_receiver_config cfg;
		struct snapshot_receiver *r;

		reset_dirs(f); /* reopens f->store */
		memset(&cfg, 0, sizeof cfg);
		cfg.data_dir = f->dir;
		cfg.store = f->store;
		cfg.fsync_interval = RES_IVL;
		cfg.marks_sync_every = k == 0 ? 1 : 0;
		assert_int_equal(snapshot_receiver_open(&cfg, "kv", &r, errmsg),
		                 0);
		io_crash_set(0);
		assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg),
		                 0);
		assert_int_equal(
		    feed_range(r, &id, data, 0, RES_CHUNK, -1, errmsg), 1);
		ops[k] = io_crash_ops();
		snapshot_receiver_close(r);
		assert_committed(f->store, &id, data);
	}
	assert_int_equal(ops[0] - ops[1],
	                 16 - 16 / SNAPSHOT_MARKS_SYNC_EVERY_DEFAULT);

	/* 6 marks, the 4th synced; the 5th and 6th lost in a power cut. */
	reset_dirs(f);
	assert_int_equal(receive_part(f, &id, data, 400000), 6 * RES_IVL);
	snprintf(path, sizeof path, "%s/recv/kv.marks", f->dir);
	assert_int_equal(truncate(path, MHDR + 4 * 24), 0);
	{
		struct snapshot_receiver *r = open_receiver(f, RES_IVL);

		assert_int_equal(snapshot_receiver_begin(r, &id, &off, errmsg),
		                 0);
		assert_int_equal(off, 4 * RES_IVL);
		assert_int_equal(recv_file_size(f->dir, "kv.partial"),
		                 (off_t)off);
		assert_int_equal(feed_rest(r, &id, data, off, errmsg), 2);
		assert_int_equal(verify_all(r, errmsg), 1);
		assert_committed(f->store, &id, data);
		snapshot_receiver_close(r);
	}
	free(data);
}

/* A resumed send reads no data at open and at most 1 MiB of its prefix
 * per call, paced with the chunks; the whole-file CRC (the prefix's and
 * the sent bytes' joined) still catches a byte changed in the prefix. */
static void test_sender_resume_bounded(void **state)
{
	struct fixture *f = *state;
	size_t size = 12 * MIB + 777, chunk = 65536;
	uint64_t start = size / 10 * 9;
	uint8_t *data = make_data(size, 25);
	struct snapshot_ident id = ident_for(data, size, 44, 2);
	char errmsg[MA_ERRMSG_SIZE], path[256];
	int pass;

	assert_int_equal(snapshot_store_create_from_buf(f->store, &id, data,
	                                                size, 0, NULL, errmsg),
	                 0);
	snapshot_store_path(f->store, 44, 2, path, sizeof path);
	for (pass = 0; pass < 3; pass++) {
		struct snapshot_sender *s;
		struct snapshot_chunk env;
		uint64_t v0, sent;
		int rc, busy = 0;

		if (pass == 1)
			start = size - 3 * chunk;
		sent = start;

		assert_int_equal(
		    snapshot_sender_open(path, &id, start, chunk, &s, errmsg),
		    0);
		assert_int_equal(snapshot_sender_verified(s), 0);
		assert_true(snapshot_sender_verifying(s));
		for (;;) {
			v0 = snapshot_sender_verified(s);
			rc = snapshot_sender_next(s, &env, errmsg);
			assert_true(snapshot_sender_verified(s) - v0 <= MIB);
			if (rc == 2) {
				busy++;
				continue;
			}
			if (rc != 1)
				break;
			if (env.done)
				continue;
			assert_int_equal(env.offset, sent);
			assert_memory_equal(env.data, data + sent,
			                    env.data_len);
			sent += env.data_len;
		}
		if (pass == 0) {
			assert_int_equal(rc, 0);
			assert_int_equal(sent, size);
			assert_int_equal(snapshot_sender_verified(s), start);
			/* 90 %: paced to end with the last chunk. */
			assert_int_equal(busy, 0);
		} else if (pass == 1) {
			/* 3 chunks carry 1 MiB each; the rest comes in
			 * calls of 1 MiB that send nothing, but for the
			 * last, which sends the done chunk. */
			assert_int_equal(rc, 0);
			assert_int_equal(sent, size);
			assert_int_equal(snapshot_sender_verified(s), start);
			assert_int_equal(busy, (int)((start + MIB - 1) / MIB) -
			                           3 - 1);
		} else {
			assert_int_equal(rc, MA_ERR_CORRUPT);
			assert_non_null(strstr(errmsg, "CRC32C of the file"));
		}
		snapshot_sender_close(s);
		/* Damage the prefix for the last pass. */
		if (pass == 1) {
			int fd = open(path, O_WRONLY);
			assert_true(fd >= 0);
			assert_int_equal(pwrite(fd, "x", 1, 12345), 1);
			close(fd);
		}
	}
	free(data);
}

/* A crash at every durability operation of a resumed receive whose
 * trusted prefix has a flipped byte (the read-back rewinds, the rest is
 * received again, the commit waits for the verification): each restart
 * resumes (or starts over) and commits exactly the source's bytes; a
 * wrong snapshot is never accepted. */
static void test_crash_resume_damaged_every_op(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = make_data(RES_SIZE, 26);
	struct snapshot_ident id = ident_for(data, RES_SIZE, 45, 2);
	char errmsg[MA_ERRMSG_SIZE], cmd[512], ops_path[128];
	struct snapshot_receiver *r;
	long total_ops = 0;
	uint64_t off;
	int rc;

	snprintf(ops_path, sizeof ops_path, "%s/ops", f->dir);
	for (long n = 0; n == 0 || n <= total_ops; n++) {
		int status;
		pid_t pid;

		snapshot_store_close(f->store);
		snprintf(cmd, sizeof cmd, "rm -rf '%s/recv' '%s'", f->dir,
		         f->store_dir);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(
		    snapshot_store_open(f->store_dir, &f->store, errmsg), 0);
		receive_part(f, &id, data, 400000);
		flip_byte(f->dir, "kv.partial", 2 * RES_IVL + 3);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			io_crash_set(n);
			r = open_receiver(f, RES_IVL);
			if (snapshot_receiver_begin(r, &id, &off, errmsg) != 0)
				_exit(2);
			/* Everything arrives, then the read-back finds the
			 * flip and rewinds; receive again from there. */
			rc = feed_rest(r, &id, data, off, errmsg);
			if (rc == 2)
				rc = verify_all(r, errmsg);
			if (rc != MA_ERR_CRC)
				_exit(3);
			if (snapshot_receiver_begin(r, &id, &off, errmsg) != 0)
				_exit(4);
			rc = feed_range(r, &id, data, off, RES_CHUNK, -1,
			                errmsg);
			/* The run without a crash tells how many operations
			 * there are through a file. */
			if (n == 0) {
				FILE *o = fopen(ops_path, "w");
				if (o == NULL ||
				    fprintf(o, "%ld\n", io_crash_ops()) < 0 ||
				    fclose(o) != 0)
					_exit(6);
			}
			_exit(rc == 1 ? 0 : 5);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		if (n == 0) {
			FILE *o = fopen(ops_path, "r");

			assert_int_equal(WEXITSTATUS(status), 0);
			assert_non_null(o);
			assert_int_equal(fscanf(o, "%ld", &total_ops), 1);
			fclose(o);
			assert_true(total_ops > 10);
			assert_committed(f->store, &id, data);
			continue;
		}
		if (WEXITSTATUS(status) != IO_CRASH_EXIT_CODE)
			fail_msg("crash point %ld: child status %d", n,
			         WEXITSTATUS(status));
		/* Restart: resume or start over, and end with the source's
		 * bytes (the flip is gone or found again). */
		r = open_receiver(f, RES_IVL);
		rc = snapshot_receiver_begin(r, &id, &off, errmsg);
		if (rc == 0) {
			rc = feed_range(r, &id, data, off, RES_CHUNK, -1,
			                errmsg);
			if (rc == MA_ERR_CRC) { /* found the flip again */
				assert_int_equal(snapshot_receiver_begin(
				                     r, &id, &off, errmsg),
				                 0);
				rc = feed_range(r, &id, data, off, RES_CHUNK,
				                -1, errmsg);
			}
			if (rc != 1)
				fail_msg("crash point %ld: resume from %" PRIu64
				         ": %d %s",
				         n, off, rc, errmsg);
		} else if (rc != 1) {
			fail_msg("crash point %ld: begin: %s", n, errmsg);
		}
		snapshot_receiver_close(r);
		assert_committed(f->store, &id, data);
	}
	print_message("crash points of a damaged resume: %ld\n", total_ops);
	free(data);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_full_stream_commits),
	    T(test_stream_front_end),
	    T(test_total_crc_mismatch_removes_partial),
	    T(test_zero_byte_snapshot),
	    T(test_progress_monotonic),
	    T(test_offset_gap_and_regression),
	    T(test_begin_binds_the_identity),
	    T(test_bad_chunk_crc),
	    T(test_write_fault_fail_stop),
	    T(test_crash_resume_every_op),
	    T(test_different_identity_starts_fresh),
	    T(test_enospc_injected),
	    T(test_enospc_tmpfs),
	    T(test_abort_removes_partial),
	    T(test_sender_from_offset),
	    T(test_sender_resume_identical),
	    T(test_sender_detects_change),
	    T(test_resume_verifies_in_slices),
	    T(test_resume_flipped_prefix_byte),
	    T(test_resume_bad_marks),
	    T(test_resume_partial_truncated),
	    T(test_sender_resume_bounded),
	    T(test_crash_resume_damaged_every_op),
	    T(test_resume_old_layout),
	    T(test_crash_converting_old_layout),
	    T(test_marks_sync_every),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
