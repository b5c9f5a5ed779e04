/* snapshot sender: a snapshot file to chunks, from any offset.
 * It checks the whole file's CRC32C against its metadata before the final
 * {done} chunk goes out, so that a file replaced, rewritten or damaged
 * under it is noticed. The receiver still checks everything itself: it is
 * the final judge.
 *
 * A resumed send (offset > 0) must not read the prefix before the resume
 * offset in one go: a large prefix would block the event loop for seconds
 * (issue 8 item 4). The CRC32C of the bytes sent, [start, size), runs as
 * they are read; the prefix [0, start) is read in bounded slices beside
 * the chunks (each call reads at most VERIFY_PER_CALL bytes of it, paced
 * to finish with the last chunk when it can) and, once the chunks are all
 * out, on calls that produce no chunk (return 2). The two CRCs are joined
 * arithmetically (crc32c_combine) for the whole-file check. */
#include "snapshot/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"

/* Most bytes of a resumed send's prefix read per call of next(). */
#define VERIFY_PER_CALL (1024u * 1024)

struct snapshot_sender {
	int fd;
	char *path;
	struct snapshot_ident id;
	uint64_t start;  /* the offset the send started at */
	uint64_t offset; /* next byte to send */
	uint32_t crc;    /* CRC32C of bytes [start, offset) as read */
	uint64_t voff;   /* prefix [0, voff) read for the whole-file CRC */
	uint32_t vcrc;   /* CRC32C of [0, voff) */
	size_t chunk;
	uint8_t *buf;
	bool done; /* the {done} chunk was produced */
};

static int read_at(struct snapshot_sender *s, size_t n, uint64_t off,
                   char *errmsg)
{
	ssize_t got = io_pread_full(s->fd, s->buf, n, (off_t)off, errmsg);

	if (got < 0)
		return (int)got;
	if ((size_t)got < n)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: file ends at %" PRIu64
		                 " but its metadata says %" PRIu64
		                 " bytes; it changed while being sent",
		                 s->path, off + (uint64_t)got, s->id.size);
	return 0;
}

int snapshot_sender_open(const char *path, const struct snapshot_ident *ident,
                         uint64_t offset, size_t chunk_size,
                         struct snapshot_sender **out, char *errmsg)
{
	struct snapshot_sender *s;
	struct stat st;
	int rc;

	if (chunk_size == 0)
		chunk_size = SNAPSHOT_CHUNK_DEFAULT;
	if (chunk_size < SNAPSHOT_CHUNK_MIN || chunk_size > SNAPSHOT_CHUNK_MAX)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "chunk size %zu outside %d..%d", chunk_size,
		                 SNAPSHOT_CHUNK_MIN, SNAPSHOT_CHUNK_MAX);
	rc = snapshot_ident_check(ident, errmsg);
	if (rc != 0)
		return rc;
	if (offset > ident->size)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "%s: offset %" PRIu64
		                 " is beyond the snapshot size %" PRIu64,
		                 path, offset, ident->size);
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	s->id = *ident;
	s->chunk = chunk_size;
	s->path = strdup(path);
	s->buf = malloc(chunk_size);
	if (s->path == NULL || s->buf == NULL) {
		rc = ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
		goto err_free;
	}
	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		rc = ma_errorf(errmsg,
		               errno == ENOENT ? MA_ERR_NOTFOUND : MA_ERR_IO,
		               "%s: %s", path, strerror(errno));
		goto err_free;
	}
	if (fstat(s->fd, &st) != 0) {
		rc = ma_errorf(errmsg, MA_ERR_IO, "%s: fstat: %s", path,
		               strerror(errno));
		goto err_close;
	}
	if ((uint64_t)st.st_size != ident->size) {
		rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
		               "%s: size %" PRIu64 " differs from metadata "
		               "size %" PRIu64,
		               path, (uint64_t)st.st_size, ident->size);
		goto err_close;
	}
	posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	/* Nothing of the prefix is read here: next() reads it in slices. */
	s->start = s->offset = offset;
	*out = s;
	return 0;

err_close:
	close(s->fd);
err_free:
	free(s->buf);
	free(s->path);
	free(s);
	return rc;
}

void snapshot_sender_close(struct snapshot_sender *s)
{
	if (s == NULL)
		return;
	close(s->fd);
	free(s->buf);
	free(s->path);
	free(s);
}

uint64_t snapshot_sender_offset(const struct snapshot_sender *s)
{
	return s->offset;
}

bool snapshot_sender_verifying(const struct snapshot_sender *s)
{
	return s->voff < s->start;
}

uint64_t snapshot_sender_verified(const struct snapshot_sender *s)
{
	return s->voff;
}

/* Reads the next slice of a resumed send's prefix: as much as keeps pace
 * with the chunks still to send, at most VERIFY_PER_CALL bytes. Returns
 * the bytes read or a negative code. */
static int64_t verify_slice(struct snapshot_sender *s, char *errmsg)
{
	uint64_t left = s->start - s->voff;
	uint64_t chunks = (s->id.size - s->offset + s->chunk - 1) / s->chunk;
	uint64_t want = chunks > 0 ? (left + chunks - 1) / chunks : left;
	uint64_t done = 0;
	int rc;

	if (want < s->chunk)
		want = s->chunk;
	if (want > VERIFY_PER_CALL)
		want = VERIFY_PER_CALL;
	if (want > left)
		want = left;
	while (done < want) {
		size_t n =
		    want - done < s->chunk ? (size_t)(want - done) : s->chunk;
		rc = read_at(s, n, s->voff, errmsg);
		if (rc != 0)
			return rc;
		s->vcrc = crc32c_append(s->vcrc, s->buf, n);
		s->voff += n;
		done += n;
	}
	return (int64_t)done;
}

int snapshot_sender_next(struct snapshot_sender *s, struct snapshot_chunk *env,
                         char *errmsg)
{
	struct stat st;
	uint32_t whole;
	int64_t v;
	int rc;

	if (s->done)
		return 0;
	if (s->voff < s->start) {
		v = verify_slice(s, errmsg);
		if (v < 0)
			return (int)v;
		if (s->offset >= s->id.size && s->voff < s->start)
			return 2; /* every chunk is out; the prefix is not */
	}
	memset(env, 0, sizeof *env);
	env->id = s->id;
	env->offset = s->offset;
	if (s->offset < s->id.size) {
		size_t n = s->id.size - s->offset < s->chunk
		               ? (size_t)(s->id.size - s->offset)
		               : s->chunk;
		rc = read_at(s, n, s->offset, errmsg);
		if (rc != 0)
			return rc;
		env->data = s->buf;
		env->data_len = n;
		env->crc32c = crc32c(s->buf, n);
		s->crc = crc32c_append(s->crc, s->buf, n);
		s->offset += n;
		return 1;
	}
	if (fstat(s->fd, &st) != 0)
		return ma_errorf(errmsg, MA_ERR_IO, "%s: fstat: %s", s->path,
		                 strerror(errno));
	if ((uint64_t)st.st_size != s->id.size)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: size is now %" PRIu64
		                 ", metadata says %" PRIu64
		                 "; the file changed while being sent",
		                 s->path, (uint64_t)st.st_size, s->id.size);
	whole = s->start == 0
	            ? s->crc
	            : crc32c_combine(s->vcrc, s->crc, s->id.size - s->start);
	if (whole != s->id.crc32c)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: CRC32C of the file is 0x%08x, "
		                 "metadata says 0x%08x; the file changed or is "
		                 "damaged",
		                 s->path, whole, s->id.crc32c);
	env->done = true;
	s->done = true;
	return 1;
}
