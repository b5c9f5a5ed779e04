/* mirror-agent wal verify [--json] DIR | wal dump [--json] DIR [--from N]
 * [--count K]: operator tools over a WAL directory. Both are read-only:
 * verify reports a torn tail but never repairs it (the writer does, on
 * open). --json prints one JSON object (verify) or one per entry (dump),
 * written with jansson. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/parse.h"
#include "spool/spool.h"
#include "wal/wal.h"

#define PREVIEW_BYTES 32

enum { OPT_FROM = CLI_OPT_CUSTOM, OPT_COUNT, OPT_JSON };

static const struct cli_opt no_opts[] = {{NULL, NULL, 0, NULL, NULL}};

static const struct cli_opt verify_opts[] = {
    {"json", NULL, OPT_JSON, NULL, "print one JSON object"},
    {NULL, NULL, 0, NULL, NULL},
};

static const struct cli_opt dump_opts[] = {
    {"from", "N", OPT_FROM, NULL, "first index to print [the first held]"},
    {"count", "K", OPT_COUNT, NULL, "print at most K entries [all]"},
    {"json", NULL, OPT_JSON, NULL,
     "one JSON object per entry, with the whole data in base64"},
    {NULL, NULL, 0, NULL, NULL},
};

static const struct cli_command wal_cmd = {
    "wal",
    "wal verify [--json] DIR | wal dump [--json] DIR [--from N] [--count K]",
    "verify: checks every record of the wal in DIR (read-only: a torn "
    "tail is\nreported, not repaired) and prints OK or FAILED.\n"
    "dump: prints entries (index, term, type, length, CRC32C, a "
    "preview).\n",
    no_opts,
    0,
    1,
};

static const struct cli_command verify_cmd = {
    "wal verify",
    "wal verify [--json] DIR",
    "Checks every record of the wal in DIR (read-only: a torn tail is "
    "reported,\nnot repaired); prints OK, or FAILED and exits 1. A "
    "directory without\nsegments is refused (a spool's wal is DIR/wal).\n",
    verify_opts,
    1,
    1,
};

static const struct cli_command dump_cmd = {
    "wal dump",
    "wal dump [--json] DIR [--from N] [--count K]",
    "Prints the entries of the wal in DIR: index, term, type, length, "
    "CRC32C and\na preview of the data.\n",
    dump_opts,
    1,
    1,
};

static void print_segment(void *arg, const struct wal_verify_segment *s)
{
	json_t *segs = arg;

	if (segs != NULL) {
		json_array_append_new(
		    segs, json_pack("{s:s, s:I, s:I, s:I}", "name", s->name,
		                    "first_index", (json_int_t)s->first_index,
		                    "entries", (json_int_t)s->entries, "bytes",
		                    (json_int_t)s->file_bytes));
		return;
	}
	printf("segment %s first_index=%" PRIu64 " entries=%" PRIu64
	       " bytes=%" PRIu64 "\n",
	       s->name, s->first_index, s->entries, s->file_bytes);
}

/* Prints o as one compact line and frees it. */
static void print_json(json_t *o)
{
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	if (text != NULL)
		printf("%s\n", text);
	else
		printf("{\"ok\":false,\"error\":\"out of memory\"}\n");
	free(text);
	json_decref(o);
}

/* The latest committed snapshot (a .snapshot with its .meta) in dir, by
 * name only: verify takes no lock and reads no snapshot. false when none
 * or no such directory. */
static bool latest_snapshot(const char *dir, uint64_t *index, uint64_t *term)
{
	struct dirent *de;
	bool found = false;
	DIR *d = opendir(dir);

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL) {
		char snap[4096];
		uint64_t i, t;
		int end = 0;

		if (sscanf(de->d_name, "%" SCNu64 "-%" SCNu64 ".meta%n", &i, &t,
		           &end) != 2 ||
		    end == 0 || de->d_name[end] != '\0')
			continue;
		if (snprintf(snap, sizeof snap,
		             "%s/%" PRIu64 "-%" PRIu64 ".snapshot", dir, i,
		             t) >= (int)sizeof snap)
			continue;
		if (access(snap, F_OK) != 0 || (found && i <= *index))
			continue;
		*index = i;
		*term = t;
		found = true;
	}
	closedir(d);
	return found;
}

/* For the wal of a spool or mirror (DIR/../identity exists): the wal
 * must start where the snapshots leave off (spool_wal_base_check). */
static int verify_base(const char *dir, uint64_t first, char *errmsg)
{
	char snaps[4096];
	uint64_t index = 0, term = 0;
	struct stat st;
	bool has;

	/* A spool or mirror directory has an identity file. */
	snprintf(snaps, sizeof snaps, "%s/../" SPOOL_IDENTITY_FILE, dir);
	if (stat(snaps, &st) != 0)
		return 0; /* a bare wal directory: nothing to compare with */
	snprintf(snaps, sizeof snaps, "%s/../" SPOOL_SNAPSHOT_DIR, dir);
	has = latest_snapshot(snaps, &index, &term);
	return spool_wal_base_check(dir, first, has, index, term, errmsg);
}

static int verify_failed(bool json, int code, const char *errmsg)
{
	if (json) {
		print_json(json_pack("{s:b, s:s, s:s}", "ok", 0, "code",
		                     ma_strerror(code), "error", errmsg));
		return 1;
	}
	fprintf(stderr, "mirror-agent wal verify: %s: %s\n", ma_strerror(code),
	        errmsg);
	printf("FAILED\n");
	return 1;
}

static int verify(const char *dir, bool json)
{
	struct wal_verify_report rep;
	char errmsg[MA_ERRMSG_SIZE], uuid[37], sub[4096];
	json_t *segs = json ? json_array() : NULL;
	struct stat st;
	int rc;

	rc = wal_verify(dir, &rep, print_segment, segs, errmsg);
	if (rc == 0 && rep.segments == 0) {
		/* An empty or wrong directory is not a healthy wal: the
		 * usual mistake is the spool or mirror directory itself. */
		char why[2 * sizeof sub + 128];
		snprintf(sub, sizeof sub, "%s/wal", dir);
		if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			snprintf(why, sizeof why,
			         "%s holds no wal segments; did you mean %s?",
			         dir, sub);
		else
			snprintf(why, sizeof why,
			         "%s holds no wal segments (a spool's or "
			         "mirror's wal is its wal/ directory)",
			         dir);
		json_decref(segs);
		return verify_failed(json, MA_ERR_NOTFOUND, why);
	}
	if (rc == 0)
		rc = verify_base(dir, rep.first_index, errmsg);
	if (rc != 0) {
		json_decref(segs);
		return verify_failed(json, rc, errmsg);
	}
	if (rep.have_identity)
		wal_identity_format_uuid(&rep.identity, uuid);
	if (json) {
		json_t *o = json_pack("{s:b, s:s, s:o, s:I, s:I, s:I}", "ok", 1,
		                      "dir", dir, "segments", segs, "entries",
		                      (json_int_t)rep.entries, "first_index",
		                      (json_int_t)rep.first_index, "last_index",
		                      (json_int_t)rep.last_index);
		if (o != NULL && rep.have_identity)
			json_object_set_new(
			    o, "identity",
			    json_pack("{s:s, s:s}", "cluster", uuid, "database",
			              rep.identity.database_id));
		if (o != NULL)
			json_object_set_new(
			    o, "torn_tail",
			    rep.torn_tail
			        ? json_pack("{s:s, s:I, s:I, s:s}", "file",
			                    rep.torn_file, "offset",
			                    (json_int_t)rep.torn_offset,
			                    "bytes", (json_int_t)rep.torn_bytes,
			                    "reason", rep.torn_reason)
			        : json_null());
		print_json(o);
		return 0;
	}
	if (rep.have_identity)
		printf("identity cluster=%s database=%s\n", uuid,
		       rep.identity.database_id);
	printf("segments %zu\nentries %" PRIu64 "\n", rep.segments,
	       rep.entries);
	if (rep.entries > 0)
		printf("first_index %" PRIu64 "\nlast_index %" PRIu64 "\n",
		       rep.first_index, rep.last_index);
	else
		printf("first_index -\nlast_index -\n");
	if (rep.torn_tail)
		printf("torn tail %s/%s offset %" PRIu64 ": %s (%" PRIu64
		       " bytes after the last valid record; the writer "
		       "truncates them on open; left untouched)\n",
		       dir, rep.torn_file, rep.torn_offset, rep.torn_reason,
		       rep.torn_bytes);
	printf("OK\n");
	return 0;
}

/* Standard base64 (RFC 4648) of p[0..len) into a malloc()ed string. */
static char *base64(const uint8_t *p, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static void print_preview(const uint8_t *p, size_t len)
{
	size_t n = len < PREVIEW_BYTES ? len : PREVIEW_BYTES;

	putchar('"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	putchar('"');
	if (n < len)
		printf("...");
}

static int dump(const char *dir, uint64_t from, uint64_t count, bool json)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_reader *r;
	struct wal_entry e;
	uint64_t done = 0;
	struct stat st;
	int rc;

	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr,
		        "mirror-agent wal dump: %s is not a directory\n", dir);
		return 1;
	}
	rc = wal_reader_open(dir, NULL, &r, errmsg);
	if (rc == 0 && from != 0)
		rc = wal_reader_seek(r, from, errmsg);
	while (rc == 0 && done < count) {
		rc = wal_reader_next(r, &e, errmsg);
		if (rc != 0)
			break;
		done++;
		if (json) {
			char crc[9], *data = base64(e.data, e.len);
			snprintf(crc, sizeof crc, "%08" PRIx32,
			         crc32c(e.data, e.len));
			print_json(data == NULL
			               ? NULL
			               : json_pack("{s:I, s:I, s:i, s:I, "
			                           "s:s, s:s}",
			                           "index", (json_int_t)e.index,
			                           "term", (json_int_t)e.term,
			                           "type", (int)e.type, "len",
			                           (json_int_t)e.len, "crc32c",
			                           crc, "data", data));
			free(data);
			continue;
		}
		printf("index=%" PRIu64 " term=%" PRIu64
		       " type=%u len=%zu crc32c=%08" PRIx32 " data=",
		       e.index, e.term, (unsigned)e.type, e.len,
		       crc32c(e.data, e.len));
		print_preview(e.data, e.len);
		putchar('\n');
	}
	wal_reader_close(r);
	if (rc != 0 && rc != MA_ERR_AGAIN) {
		fprintf(stderr, "mirror-agent wal dump: %s: %s\n",
		        ma_strerror(rc), errmsg);
		return 1;
	}
	return 0;
}

int cmd_wal(int argc, char **argv)
{
	const struct cli_command *cmd;
	uint64_t from = 0, count = UINT64_MAX;
	char why[PARSE_WHY_SIZE];
	bool json = false;
	struct cli_args a;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
		cmd = &verify_cmd;
	} else if (argc >= 2 && strcmp(argv[1], "dump") == 0) {
		cmd = &dump_cmd;
	} else {
		rc = cli_parse(&wal_cmd, argc, argv, &a);
		if (rc < 0)
			return CLI_EXIT_OK;
		if (rc == CLI_EXIT_OK) {
			/* No sub-command to point at: the whole usage. */
			cli_args_free(&a);
			fprintf(stderr, "mirror-agent wal: %s sub-command\n\n",
			        argc < 2 ? "missing" : "unknown");
			cli_usage(&wal_cmd, stderr);
			rc = CLI_EXIT_USAGE;
		}
		return rc;
	}
	rc = cli_parse(cmd, argc - 1, argv + 1, &a);
	if (rc != 0)
		return rc < 0 ? CLI_EXIT_OK : rc;
	for (size_t i = 0; i < a.n && rc == 0; i++) {
		if (a.items[i].opt->id == OPT_JSON) {
			json = true;
			continue;
		}
		uint64_t *dst = a.items[i].opt->id == OPT_FROM ? &from : &count;
		if (parse_uint64(a.items[i].value, dst, why) != 0)
			rc = cli_usage_error(cmd, "--%s %s: %s",
			                     a.items[i].opt->name,
			                     a.items[i].value, why);
	}
	if (rc == 0)
		rc = cmd == &verify_cmd ? verify(a.args[0], json)
		                        : dump(a.args[0], from, count, json);
	cli_args_free(&a);
	return rc;
}
