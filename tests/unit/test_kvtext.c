/* common/kvtext: the strict key=value record reader, on a table with every
 * kind of field (a magic line, strings, bounded and unbounded numbers, an
 * optional field, a repeated one, the CRC seal). Each refusal is checked
 * for its code and for the line and key its message names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/kvtext.h"

struct rec {
	char name[9];
	uint64_t count, small;
	char note[9];
	char tags[3][5];
	size_t ntags;
	uint32_t crc;
};

static int rec_parse(const char *text, size_t len, struct rec *r, char *errmsg)
{
	const struct kvtext_field fields[] = {
	    {"name", KVTEXT_STR, 0, 8, r->name, 0, NULL},
	    {"count", KVTEXT_U64, 0, 0, &r->count, 0, NULL},
	    {"small", KVTEXT_U64, 0, 1000, &r->small, 0, NULL},
	    {"note", KVTEXT_STR, KVTEXT_OPTIONAL, 8, r->note, 0, NULL},
	    {"tag", KVTEXT_STR, KVTEXT_REPEAT, 4, r->tags, 3, &r->ntags},
	    {"crc32c", KVTEXT_CRC32C, 0, 0, &r->crc, 0, NULL},
	};
	const struct kvtext_format fmt = {"test record", "test record 1", 160,
	                                  fields,
	                                  sizeof fields / sizeof fields[0]};

	memset(r, 0, sizeof *r);
	return kvtext_parse(&fmt, text, len, errmsg);
}

/* Seals body (its CRC line appended) into out; returns the length. */
static size_t sealed(const char *body, char *out, size_t size)
{
	size_t n = strlen(body);
	int rc;

	assert_true(n < size);
	memcpy(out, body, n + 1);
	rc = kvtext_seal(out, n, size);
	assert_true(rc > 0);
	return (size_t)rc;
}

#define GOOD                                                                   \
	"test record 1\nname=alpha\ncount=18446744073709551615\nsmall=1000\n"  \
	"tag=a\ntag=bb\n"

static void test_accepts(void **state)
{
	char text[256], errmsg[MA_ERRMSG_SIZE];
	struct rec r;
	size_t n;

	(void)state;
	n = sealed(GOOD, text, sizeof text);
	assert_int_equal(rec_parse(text, n, &r, errmsg), 0);
	assert_string_equal(r.name, "alpha");
	assert_true(r.count == UINT64_MAX);
	assert_true(r.small == 1000);
	assert_string_equal(r.note, "");
	assert_int_equal(r.ntags, 2);
	assert_string_equal(r.tags[0], "a");
	assert_string_equal(r.tags[1], "bb");
	assert_true(r.crc == crc32c(GOOD, strlen(GOOD)));

	/* The optional field, present; three tags (the most). */
	n = sealed("test record 1\nname=b=c\ncount=0\nsmall=7\nnote=n\n"
	           "tag=x\ntag=y\ntag=zzzz\n",
	           text, sizeof text);
	assert_int_equal(rec_parse(text, n, &r, errmsg), 0);
	assert_string_equal(r.name, "b=c"); /* split at the first '=' */
	assert_true(r.count == 0 && r.small == 7);
	assert_string_equal(r.note, "n");
	assert_int_equal(r.ntags, 3);
	assert_string_equal(r.tags[2], "zzzz");
}

/* The seal: exact bytes, and MA_ERR_LIMIT when there is no room. */
static void test_seal(void **state)
{
	char out[32] = "a=1\n";
	char want[32];

	(void)state;
	snprintf(want, sizeof want, "a=1\ncrc32c=%08x\n", crc32c("a=1\n", 4));
	assert_int_equal(kvtext_seal(out, 4, sizeof out), 20);
	assert_string_equal(out, want);
	assert_int_equal(kvtext_seal(out, 4, 20), MA_ERR_LIMIT);
	assert_int_equal(kvtext_seal(out, 4, 21), 20);
	assert_int_equal(kvtext_seal(out, 21, 21), MA_ERR_LIMIT);
}

struct refusal {
	const char *body; /* sealed before parsing unless raw */
	int raw;
	const char *msg; /* a part of the message */
};

static void test_refuses(void **state)
{
	static const struct refusal cases[] = {
	    /* duplicate, missing, unknown, out of order */
	    {"test record 1\nname=a\nname=b\ncount=1\nsmall=1\ntag=a\n", 0,
	     "test record line 3: duplicate key \"name\" (first on line 2)"},
	    {"test record 1\nname=a\nsmall=1\ntag=a\n", 0,
	     "test record line 3: missing key \"count\" (it comes before "
	     "\"small\")"},
	    {"test record 1\nname=a\ncount=1\nsmall=1\n", 0,
	     "test record: missing key \"tag\" (after line 4)"},
	    {"test record 1\nname=a\ncount=1\nsmall=1\ntag=a\nextra=1\n", 0,
	     "test record line 6: unknown key \"extra\""},
	    {"test record 1\nname=a\ncount=1\nsmall=1\ntag=a\nnote=x\n", 0,
	     "test record line 6: key \"note\" out of order"},
	    {"test record 1\nname=a\ncount=1\nsmall=1\ntag=a\ntag=b\ntag=c\n"
	     "tag=d\n",
	     0, "test record line 8 (tag): more than 3 such lines"},
	    /* values */
	    {"test record 1\nname=a\ncount=01\nsmall=1\ntag=a\n", 0,
	     "test record line 3 (count): \"01\" has a leading zero"},
	    {"test record 1\nname=a\ncount=+1\nsmall=1\ntag=a\n", 0,
	     "test record line 3 (count): \"+1\": not a whole number"},
	    {"test record 1\nname=a\ncount=-1\nsmall=1\ntag=a\n", 0,
	     "(count): \"-1\": must not be negative"},
	    {"test record 1\nname=a\ncount=18446744073709551616\nsmall=1\n"
	     "tag=a\n",
	     0, "(count): \"18446744073709551616\": too large"},
	    {"test record 1\nname=a\ncount=1 \nsmall=1\ntag=a\n", 0,
	     "(count): \"1 \": not a whole number"},
	    {"test record 1\nname=a\ncount=1\nsmall=1001\ntag=a\n", 0,
	     "test record line 4 (small): 1001 is more than 1000"},
	    {"test record 1\nname=\ncount=1\nsmall=1\ntag=a\n", 0,
	     "test record line 2 (name): empty value"},
	    {"test record 1\nname=123456789\ncount=1\nsmall=1\ntag=a\n", 0,
	     "test record line 2 (name): 9 bytes, more than the 8 it can be"},
	    {"test record 1\nname=a\tb\ncount=1\nsmall=1\ntag=a\n", 0,
	     "test record line 2 (name): a control character (0x09)"},
	    {"test record 1\nname=a\n\ncount=1\nsmall=1\ntag=a\n", 0,
	     "test record line 3: \"\" is not key=value"},
	    {"test record 1\nname=a\n=1\ncount=1\nsmall=1\ntag=a\n", 0,
	     "test record line 3: \"=1\" is not key=value"},
	    /* shape */
	    {"test record 2\nname=a\ncount=1\nsmall=1\ntag=a\n", 0,
	     "test record line 1: not \"test record 1\""},
	    {"test record 1\r\nname=a\ncount=1\nsmall=1\ntag=a\n", 0,
	     "test record line 1: a carriage return (CRLF line ends?)"},
	    {"test record 1\nname=a\ncount=1\nsmall=1\ntag=a\ncrc32c=0", 1,
	     "test record line 6: no newline at its end"},
	    {"", 1, "test record is empty"},
	    {"test record 1\n", 1, "test record: no crc32c line"},
	    {"test record 1\nname=a\ncount=1\nsmall=1\ntag=a\n", 1,
	     "test record line 5: not the crc32c=... line"},
	    {"test record 1\nname=a\ncrc32c=00000000\n", 1,
	     "test record line 3 (crc32c): 00000000 is not the CRC32C of the "
	     "lines before it"},
	    {"test record 1\nname=a\ncrc32c=0000000\n", 1,
	     "(crc32c): \"0000000\" is not 8 lowercase hex digits"},
	};
	char text[512], errmsg[MA_ERRMSG_SIZE];
	struct rec r;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n;

		if (cases[i].raw) {
			n = strlen(cases[i].body);
			memcpy(text, cases[i].body, n);
		} else {
			n = sealed(cases[i].body, text, sizeof text);
		}
		errmsg[0] = '\0';
		assert_int_equal(rec_parse(text, n, &r, errmsg),
		                 MA_ERR_CORRUPT);
		if (strstr(errmsg, cases[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, errmsg,
			         cases[i].msg);
	}
}

/* A CRC line in upper case, a NUL, a text over max_len. */
static void test_refuses_bytes(void **state)
{
	char text[512], errmsg[MA_ERRMSG_SIZE];
	struct rec r;
	size_t n;

	(void)state;
	/* The same CRC in upper case (GOOD's has letters: asserted). */
	n = (size_t)snprintf(text, sizeof text, "%scrc32c=%08X\n", GOOD,
	                     crc32c(GOOD, strlen(GOOD)));
	assert_non_null(strpbrk(text + strlen(GOOD) + 7, "ABCDEF"));
	assert_int_equal(rec_parse(text, n, &r, errmsg), MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "is not 8 lowercase hex digits"));
	n = sealed(GOOD, text, sizeof text);
	text[20] = '\0';
	assert_int_equal(rec_parse(text, n, &r, errmsg), MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "test record: a NUL byte at offset 20"));
	memset(text, 'x', 161);
	assert_int_equal(rec_parse(text, 161, &r, errmsg), MA_ERR_CORRUPT);
	assert_non_null(
	    strstr(errmsg, "test record: 161 bytes, more than the 160"));
}

/* KVTEXT_ZEROS takes "007"; a record without seal or magic. */
static void test_zeros_unsealed(void **state)
{
	uint64_t v = 1;
	const struct kvtext_field fields[] = {
	    {"n", KVTEXT_U64, KVTEXT_ZEROS, 0, &v, 0, NULL},
	};
	const struct kvtext_format fmt = {"n file", NULL, 64, fields, 1};
	char errmsg[MA_ERRMSG_SIZE];

	(void)state;
	assert_int_equal(kvtext_parse(&fmt, "n=007\n", 6, errmsg), 0);
	assert_true(v == 7);
	assert_int_equal(kvtext_parse(&fmt, "n=7\nn=7\n", 8, errmsg),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "n file line 2: duplicate key \"n\""));
	assert_int_equal(
	    kvtext_parse(&fmt, "n=7\ncrc32c=00000000\n", 20, errmsg),
	    MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, "line 2: unknown key \"crc32c\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts),
	    cmocka_unit_test(test_seal),
	    cmocka_unit_test(test_refuses),
	    cmocka_unit_test(test_refuses_bytes),
	    cmocka_unit_test(test_zeros_unsealed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
