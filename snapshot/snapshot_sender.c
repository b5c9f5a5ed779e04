/* snapshot sender: a snapshot file to chunks, from any offset.
 * It keeps a running CRC32C over the whole file (the prefix before a resume
 * offset is read once at open) so that a file replaced or rewritten under
 * it is noticed before the final {done} chunk goes out. The receiver
 * still checks everything itself: it is the final judge. */
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

struct snapshot_sender {
	int fd;
	char *path;
	struct snapshot_ident id;
	uint64_t offset; /* next byte to send */
	uint32_t crc;    /* CRC32C of bytes [0, offset) as read */
	size_t chunk;
	uint8_t *buf;
	bool done; /* the {done} chunk was produced */
};

static int read_at(struct snapshot_sender *s, size_t n, uint64_t off,
                   char *errmsg)
{
	ssize_t got = io_pread_full(s->fd, s->buf, n, (off_t)off);

	if (got < 0)
		return ma_errorf(errmsg, MA_ERR_IO,
		                 "%s: read at %" PRIu64 ": %s", s->path, off,
		                 strerror((int)-got));
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
	while (s->offset < offset) {
		size_t n = offset - s->offset < chunk_size
		               ? (size_t)(offset - s->offset)
		               : chunk_size;
		rc = read_at(s, n, s->offset, errmsg);
		if (rc != 0)
			goto err_close;
		s->crc = crc32c_append(s->crc, s->buf, n);
		s->offset += n;
	}
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

int snapshot_sender_next(struct snapshot_sender *s, struct snapshot_chunk *env,
                         char *errmsg)
{
	struct stat st;
	int rc;

	if (s->done)
		return 0;
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
	if (s->crc != s->id.crc32c)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%s: CRC32C of the bytes sent is 0x%08x, "
		                 "metadata says 0x%08x; the file changed or is "
		                 "damaged",
		                 s->path, s->crc, s->id.crc32c);
	env->done = true;
	s->done = true;
	return 1;
}
