/* The decoders of bytes from disk accept exactly what their encoders write:
 * regressions for what tests/fuzz/ found (each case is also in the fuzz
 * corpus), run in every build, not only the clang fuzzing one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "common/endian.h"
#include "common/errors.h"
#include "snapshot/snapshot.h"
#include "spool/spool.h"
#include "wal/wal_format.h"

/* Re-seals a fixed record whose CRC32C sits in its last 4 bytes, the way
 * a writer of another format version (or a careful editor) would. */
static void reseal(uint8_t *rec, size_t size)
{
	le_put32(rec + size - 4, crc32c(rec, size - 4));
}

static void test_seg_header_reserved(void **state)
{
	uint8_t buf[WAL_SEG_HEADER_SIZE];
	struct wal_seg_header h, got;
	const char *reason = NULL;

	(void)state;
	memset(&h, 0, sizeof h);
	h.first_index = 7;
	assert_int_equal(
	    wal_identity_init(&h.identity,
	                      "00112233-4455-6677-8899-aabbccddeeff", "kv",
	                      NULL),
	    0);
	wal_seg_header_encode(&h, buf);
	assert_int_equal(wal_seg_header_decode(buf, sizeof buf, &got, &reason),
	                 0);
	/* A byte of the database id's padding (41 + 2 .. 104). */
	buf[60] = 'x';
	reseal(buf, sizeof buf);
	assert_int_equal(wal_seg_header_decode(buf, sizeof buf, &got, &reason),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(reason, "reserved"));
	/* The reserved bytes 105..123. */
	wal_seg_header_encode(&h, buf);
	buf[110] = 1;
	reseal(buf, sizeof buf);
	assert_int_equal(wal_seg_header_decode(buf, sizeof buf, &got, &reason),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(reason, "reserved"));
}

static void fill_ident(struct snapshot_ident *id)
{
	memset(id, 0, sizeof *id);
	strcpy(id->cluster_id, "6f1c3a52-0d7e-4c1b-9a55-3b2f8e4d7c10");
	strcpy(id->database_id, "kv");
	id->index = 5;
	id->term = 2;
	id->size = 1000;
	id->crc32c = 0xec5eceb4;
}

static void test_snapshot_records_reserved(void **state)
{
	uint8_t m[SNAPSHOT_META_SIZE], p[SNAPSHOT_PROGRESS_SIZE];
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_progress pr, pr2;
	struct snapshot_meta meta, got;

	(void)state;
	memset(&meta, 0, sizeof meta);
	fill_ident(&meta.id);
	meta.created_ms = 1764380000000ull;
	snapshot_meta_encode(&meta, m);
	assert_int_equal(snapshot_meta_decode(m, sizeof m, &got, errmsg), 0);
	assert_true(snapshot_ident_equal(&got.id, &meta.id));
	m[45] = 0x5e; /* reserved 44..47 */
	reseal(m, sizeof m);
	assert_int_equal(snapshot_meta_decode(m, sizeof m, &got, errmsg),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "reserved"));
	snapshot_meta_encode(&meta, m);
	m[51] = 1; /* reserved 50..51 */
	reseal(m, sizeof m);
	assert_int_equal(snapshot_meta_decode(m, sizeof m, &got, errmsg),
	                 MA_ERR_CORRUPT);

	memset(&pr, 0, sizeof pr);
	fill_ident(&pr.id);
	pr.durable_offset = 512;
	pr.running_crc32c = 0x1234abcd;
	pr.seq = 7;
	snapshot_progress_encode(&pr, p);
	assert_int_equal(snapshot_progress_decode(p, sizeof p, &pr2, errmsg),
	                 0);
	assert_true(pr2.seq == 7 && pr2.durable_offset == 512 &&
	            pr2.running_crc32c == 0x1234abcd);
	p[50] = 1;
	reseal(p, sizeof p);
	assert_int_equal(snapshot_progress_decode(p, sizeof p, &pr2, errmsg),
	                 MA_ERR_CORRUPT);
}

/* The id length says 36 but a NUL sits at 18: the decoder used to return
 * the 18-character prefix as the cluster id. */
static void test_snapshot_id_with_nul(void **state)
{
	uint8_t m[SNAPSHOT_META_SIZE];
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_meta meta, got;

	(void)state;
	memset(&meta, 0, sizeof meta);
	fill_ident(&meta.id);
	snapshot_meta_encode(&meta, m);
	assert_int_equal(m[48], 36);
	m[52 + 18] = '\0';
	reseal(m, sizeof m);
	assert_int_equal(snapshot_meta_decode(m, sizeof m, &got, errmsg),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "cluster_id"));
}

static void test_identity_strict(void **state)
{
	static const char *bodies[] = {
	    "cluster_id=6f1c3a52-0d7e-4c1b-9a55-3b2f8e4d7c10\n"
	    "database_id=kv\nepoch=-1\n",
	    "cluster_id=6f1c3a52-0d7e-4c1b-9a55-3b2f8e4d7c10\n"
	    "database_id=kv\nepoch=+3\n",
	    "cluster_id=6f1c3a52-0d7e-4c1b-9a55-3b2f8e4d7c10\n"
	    "database_id=kv\nepoch= 3\n",
	    "cluster_id=6f1c3a52-0d7e-4c1b-9a55-3b2f8e4d7c10\n"
	    "database_id=kv\nepoch=03\n",
	    "cluster_id=6f1c3a52-0d7e-4c1b-9a55-3b2f8e4d7c10\n"
	    "database_id=kv\nepoch=3\nextra=1\n",
	    "cluster_id=a b\ndatabase_id=kv\nepoch=3\n",
	    "cluster_id=6f1c3a52-0d7e-4c1b-9a55-3b2f8e4d7c10\n"
	    "database_id=..\nepoch=3\n",
	};
	struct proto_identity id, back;
	char text[SPOOL_IDENTITY_TEXT_MAX + 32], errmsg[MA_ERRMSG_SIZE];
	int n;

	(void)state;
	memset(&id, 0, sizeof id);
	strcpy(id.cluster_id, "6f1c3a52-0d7e-4c1b-9a55-3b2f8e4d7c10");
	strcpy(id.database_id, "kv");
	id.epoch = 3;
	n = spool_identity_format(&id, text, errmsg);
	assert_true(n > 0);
	assert_int_equal(spool_identity_parse(text, (size_t)n, &back, errmsg),
	                 0);
	assert_true(spool_identity_equal(&id, &back));
	assert_true(back.epoch == 3);
	/* Each body with a correct CRC line: sscanf alone accepted them. */
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		size_t len = strlen(bodies[i]);

		memcpy(text, bodies[i], len);
		len += (size_t)snprintf(text + len, 32, "crc32c=%08x\n",
		                        crc32c(bodies[i], strlen(bodies[i])));
		assert_int_equal(spool_identity_parse(text, len, &back, errmsg),
		                 MA_ERR_CORRUPT);
		assert_true(back.epoch == 0 && back.cluster_id[0] == '\0');
	}
	/* A writer refuses an id the reader would refuse. */
	strcpy(id.cluster_id, "a\nb");
	assert_int_equal(spool_identity_format(&id, text, errmsg),
	                 MA_ERR_INVAL);
}

/* The identity file with an incarnation line round-trips; a file written
 * before incarnations (three lines) still reads, with none; a bad
 * incarnation or a cluster id that is not a UUID is never written. */
static void test_identity_incarnation(void **state)
{
	static const char old_body[] =
	    "cluster_id=6f1c3a52-0d7e-4c1b-9a55-3b2f8e4d7c10\n"
	    "database_id=kv\nepoch=1\n";
	struct proto_identity id, back, seen;
	char text[SPOOL_IDENTITY_TEXT_MAX], errmsg[MA_ERRMSG_SIZE];
	int n;

	(void)state;
	memset(&id, 0, sizeof id);
	strcpy(id.cluster_id, "6f1c3a52-0d7e-4c1b-9a55-3b2f8e4d7c10");
	strcpy(id.database_id, "kv");
	id.epoch = 1;
	strcpy(id.incarnation, "11111111-2222-4333-8444-555555555555");
	n = spool_identity_format(&id, text, errmsg);
	assert_true(n > 0);
	assert_non_null(
	    strstr(text, "\nincarnation=11111111-2222-4333-8444-555555555555\n"
	                 "crc32c="));
	assert_int_equal(spool_identity_parse(text, (size_t)n, &back, errmsg),
	                 0);
	assert_string_equal(back.incarnation, id.incarnation);
	assert_true(spool_identity_equal(&id, &back));

	/* Three lines, as written before: no incarnation. */
	n = snprintf(text, sizeof text, "%scrc32c=%08x\n", old_body,
	             crc32c(old_body, strlen(old_body)));
	assert_int_equal(spool_identity_parse(text, (size_t)n, &back, errmsg),
	                 0);
	assert_string_equal(back.incarnation, "");
	assert_false(spool_identity_equal(&id, &back));

	/* What a mirror accepts: a stored identity without incarnation
	 * takes any (the caller then stores it); with one, only that one. */
	seen = id;
	assert_true(spool_identity_accepts(&back, &seen));
	assert_true(spool_identity_accepts(&id, &seen));
	strcpy(seen.incarnation, "99999999-2222-4333-8444-555555555555");
	assert_false(spool_identity_accepts(&id, &seen));
	seen.incarnation[0] = '\0';
	assert_false(spool_identity_accepts(&id, &seen));
	seen = id;
	seen.epoch = 2;
	assert_false(spool_identity_accepts(&id, &seen));
	seen = id;
	strcpy(seen.cluster_id, "6F1C3A52-0D7E-4C1B-9A55-3B2F8E4D7C10");
	assert_true(spool_identity_accepts(&id, &seen)); /* case of a UUID */

	/* Never written: an incarnation or cluster id that is not a UUID. */
	strcpy(id.incarnation, "1111111-2222-4333-8444-5555555555550");
	assert_int_equal(spool_identity_format(&id, text, errmsg),
	                 MA_ERR_INVAL);
	id.incarnation[0] = '\0';
	strcpy(id.cluster_id, "cluster-1");
	assert_int_equal(spool_identity_format(&id, text, errmsg),
	                 MA_ERR_INVAL);
	assert_non_null(strstr(errmsg, "must be a UUID"));
}

/* <db>/incarnations round-trips; any edit (or a bad CRC, or a malformed
 * source or incarnation) is refused, never half-read. */
static void test_incarnations_file(void **state)
{
	char dir[] = "/tmp/ma-test-XXXXXX", path[64], errmsg[MA_ERRMSG_SIZE];
	struct spool_incarnations s, back;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&s, 0, sizeof s);
	assert_int_equal(spool_incarnations_read(dir, &back, errmsg), 0);
	assert_int_equal(back.n, 0);
	strcpy(s.v[0].source, "10.0.0.1:4433");
	strcpy(s.v[0].incarnation, "11111111-2222-4333-8444-555555555555");
	strcpy(s.v[1].source, "[fd00::2]:4433");
	strcpy(s.v[1].incarnation, "66666666-7777-4888-8999-aaaaaaaaaaaa");
	s.n = 2;
	assert_int_equal(spool_incarnations_write(dir, &s, errmsg), 0);
	assert_int_equal(spool_incarnations_read(dir, &back, errmsg), 0);
	assert_int_equal(back.n, 2);
	assert_string_equal(spool_incarnation_of(&back, "[fd00::2]:4433"),
	                    s.v[1].incarnation);
	assert_null(spool_incarnation_of(&back, "10.0.0.3:4433"));
	/* Names are DNS names: any case finds them; and a name of the
	 * longest host (253 characters) with its port is kept whole. */
	{
		char longname[SPOOL_SOURCE_MAX + 1];

		strcpy(s.v[0].source, "Mirror-Source.Example:4433");
		assert_int_equal(spool_incarnations_write(dir, &s, errmsg), 0);
		assert_int_equal(spool_incarnations_read(dir, &back, errmsg),
		                 0);
		assert_string_equal(
		    spool_incarnation_of(&back, "mirror-source.EXAMPLE:4433"),
		    s.v[0].incarnation);
		memset(longname, 'h', 253);
		strcpy(longname + 253, ":65535");
		assert_int_equal(strlen(longname), 259);
		strcpy(s.v[0].source, longname);
		assert_int_equal(spool_incarnations_write(dir, &s, errmsg), 0);
		assert_int_equal(spool_incarnations_read(dir, &back, errmsg),
		                 0);
		assert_string_equal(back.v[0].source, longname);
		longname[258] = '4'; /* same host, another port */
		assert_null(spool_incarnation_of(&back, longname));
		strcpy(s.v[0].source, "10.0.0.1:4433");
		assert_int_equal(spool_incarnations_write(dir, &s, errmsg), 0);
	}
	/* An edited line (the CRC no longer matches). */
	snprintf(path, sizeof path, "%s/incarnations", dir);
	f = fopen(path, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, 7, SEEK_SET), 0);
	assert_int_equal(fputc('2', f), '2');
	fclose(f);
	assert_int_equal(spool_incarnations_read(dir, &back, errmsg),
	                 MA_ERR_CORRUPT);
	assert_int_equal(back.n, 0);
	/* Never written: a source with a newline, an incarnation that is
	 * not a UUID. */
	strcpy(s.v[0].source, "a\nb:1");
	assert_int_equal(spool_incarnations_write(dir, &s, errmsg),
	                 MA_ERR_INVAL);
	strcpy(s.v[0].source, "10.0.0.1:4433");
	strcpy(s.v[1].incarnation, "not-a-uuid");
	assert_int_equal(spool_incarnations_write(dir, &s, errmsg),
	                 MA_ERR_INVAL);
	unlink(path);

	/* A file from before nodes were known by name ("source=ADDR"
	 * lines): read, but keyed by address (no name finds it) until
	 * re-keyed; the rest dropped; written back as "node=" lines. */
	{
		static const char old[] =
		    "source=10.0.0.1:4433 "
		    "incarnation=11111111-2222-4333-8444-555555555555\n"
		    "source=10.0.0.2:4433 "
		    "incarnation=66666666-7777-4888-8999-aaaaaaaaaaaa\n";
		char text[512], want[512];

		snprintf(text, sizeof text, "%scrc32c=%08x\n", old,
		         crc32c(old, strlen(old)));
		f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fputs(text, f) >= 0, 1);
		fclose(f);
		assert_int_equal(spool_incarnations_read(dir, &back, errmsg),
		                 0);
		assert_int_equal(back.n, 2);
		assert_true(back.v[0].by_address && back.v[1].by_address);
		assert_null(spool_incarnation_of(&back, "10.0.0.1:4433"));
		/* Rewritten unchanged while not re-keyed. */
		assert_int_equal(spool_incarnations_write(dir, &back, errmsg),
		                 0);
		assert_int_equal(spool_incarnations_read(dir, &s, errmsg), 0);
		assert_int_equal(s.n, 2);
		assert_true(s.v[1].by_address);
		assert_true(spool_incarnations_rekey(&back, "10.0.0.1:4433",
		                                     "db1.example:4433"));
		assert_false(spool_incarnations_rekey(&back, "10.0.0.1:4433",
		                                      "db1.example:4433"));
		assert_false(spool_incarnations_rekey(&back, "10.0.0.9:4433",
		                                      "db9.example:4433"));
		assert_string_equal(
		    spool_incarnation_of(&back, "db1.example:4433"),
		    "11111111-2222-4333-8444-555555555555");
		assert_int_equal(spool_incarnations_drop_by_address(&back), 1);
		assert_int_equal(back.n, 1);
		assert_int_equal(spool_incarnations_write(dir, &back, errmsg),
		                 0);
		snprintf(want, sizeof want,
		         "node=db1.example:4433 "
		         "incarnation=11111111-2222-4333-8444-555555555555\n");
		snprintf(want + strlen(want), sizeof want - strlen(want),
		         "crc32c=%08x\n", crc32c(want, strlen(want)));
		f = fopen(path, "r");
		assert_non_null(f);
		memset(text, 0, sizeof text);
		assert_true(fread(text, 1, sizeof text - 1, f) > 0);
		fclose(f);
		assert_string_equal(text, want);
	}
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seg_header_reserved),
	    cmocka_unit_test(test_snapshot_records_reserved),
	    cmocka_unit_test(test_snapshot_id_with_nul),
	    cmocka_unit_test(test_identity_strict),
	    cmocka_unit_test(test_identity_incarnation),
	    cmocka_unit_test(test_incarnations_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
