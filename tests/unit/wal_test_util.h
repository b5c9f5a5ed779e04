/* Helpers shared by the wal unit tests (static, header-only). */
#ifndef MIRROR_TESTS_UNIT_WAL_TEST_UTIL_H
#define MIRROR_TESTS_UNIT_WAL_TEST_UTIL_H

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/io.h"
#include "tests/lib/fixture.h"
#include "wal/wal.h"

#define TEST_UUID "6f1c3a52-9d0e-4b7a-8c21-0a1b2c3d4e5f"
#define TEST_DB "kv.main"

/* Options with the test identity; sync per append, small segments. */
static inline struct wal_options test_opts(uint64_t segment_size)
{
	struct wal_options o;

	wal_options_init(&o);
	if (wal_identity_init(&o.identity, TEST_UUID, TEST_DB, NULL) != 0)
		abort();
	o.segment_size = segment_size;
	return o;
}

/* Deterministic payload for index i: "entry-<i>" padded with a pattern
 * to a length that varies with i (0..max_extra extra bytes). */
static inline size_t test_payload(uint64_t i, uint8_t *buf, size_t max_extra)
{
	int n = snprintf((char *)buf, 32, "entry-%" PRIu64, i);
	size_t extra = max_extra ? (size_t)(i * 7 % (max_extra + 1)) : 0;

	for (size_t k = 0; k < extra; k++)
		buf[n + k] = (uint8_t)(i + k);
	return (size_t)n + extra;
}

static inline uint64_t test_term(uint64_t i)
{
	return 1 + i / 100;
}

/* Appends entries [from, to] one per call (or in batches of batch). */
static inline int test_append_range(struct wal_log *log, uint64_t from,
                                    uint64_t to, size_t batch, size_t max_extra,
                                    char *errmsg)
{
	static uint8_t bufs[64][128];
	struct wal_entry e[64];
	uint64_t i = from;

	if (batch > 64)
		batch = 64;
	while (i <= to) {
		size_t n = 0;

		while (n < batch && i <= to) {
			e[n].index = i;
			e[n].term = test_term(i);
			e[n].type = WAL_ENTRY_COMMAND;
			e[n].len = test_payload(i, bufs[n], max_extra);
			e[n].data = bufs[n];
			n++;
			i++;
		}
		int rc = wal_log_append(log, e, n, 0, errmsg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* True when e is the entry test_append_range wrote for its index. */
static inline int test_entry_ok(const struct wal_entry *e, size_t max_extra)
{
	uint8_t buf[128];
	size_t len = test_payload(e->index, buf, max_extra);

	return e->term == test_term(e->index) && e->len == len &&
	       memcmp(e->data, buf, len) == 0;
}

static inline void test_seg_path(char *out, size_t size, const char *dir,
                                 uint64_t first)
{
	snprintf(out, size, "%s/wal-%020" PRIu64 ".seg", dir, first);
}

static inline off_t test_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Overwrites len bytes at off in path with byte b (or XORs 1 bit when
 * flip). */
static inline void test_poke(const char *path, off_t off, size_t len, int b,
                             int flip)
{
	int fd = open(path, O_RDWR);
	uint8_t c;

	if (fd < 0)
		abort();
	for (size_t i = 0; i < len; i++) {
		if (flip) {
			if (pread(fd, &c, 1, off + (off_t)i) != 1)
				abort();
			c ^= 0x10;
		} else {
			c = (uint8_t)(b < 0 ? rand() : b);
		}
		if (pwrite(fd, &c, 1, off + (off_t)i) != 1)
			abort();
	}
	close(fd);
}

#endif
