/* `mirror-agent status`: prints what a running follower last wrote to its
 * status file (every second): state, bytes done/total, applied index,
 * source commit index, lag in entries and ms, reconnects. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/cli/commands.h"
#include "common/errors.h"
#include "common/io.h"

/* Copies the value of "key": from a flat JSON object text into out. */
static void field(const char *obj, const char *key, char *out, size_t size)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof pat, "\"%s\":", key);
	p = strstr(obj, pat);
	out[0] = '\0';
	if (p == NULL)
		return;
	p += strlen(pat);
	if (*p == '"') {
		/* A string runs to its closing quote (the writer never puts
		 * a quote inside); messages contain commas. */
		for (p++; *p && *p != '"' && n < size - 1;)
			out[n++] = *p++;
	} else {
		while (*p && *p != ',' && *p != '}' && n < size - 1)
			out[n++] = *p++;
	}
	out[n] = '\0';
}

int cmd_status(int argc, char **argv)
{
	const char *path = NULL, *dir = NULL;
	char file[4096], v[12][256], errmsg[MA_ERRMSG_SIZE];
	bool json = false;
	struct stat st;
	size_t len;
	void *buf;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--status-file") == 0 && i + 1 < argc)
			path = argv[++i];
		else {
			fprintf(stderr, "usage: mirror-agent status --data-dir "
			                "DIR | --status-file FILE [--json]\n");
			return 2;
		}
	}
	if (path == NULL) {
		if (dir == NULL)
			dir = "/var/lib/mirror-agent";
		snprintf(file, sizeof file, "%s/status", dir);
		path = file;
	}
	rc = io_read_file(path, 1 << 20, &buf, &len, errmsg);
	if (rc != 0) {
		fprintf(stderr,
		        "mirror-agent status: %s (is `mirror-agent follow` "
		        "running with this data dir?)\n",
		        errmsg);
		return 1;
	}
	if (json) {
		fwrite(buf, 1, len, stdout);
		free(buf);
		return 0;
	}
	if (stat(path, &st) == 0 && time(NULL) - st.st_mtime > 5)
		printf("warning: status is %ld s old; the follower may not be "
		       "running\n",
		       (long)(time(NULL) - st.st_mtime));
	field(buf, "endpoint", v[0], sizeof v[0]);
	printf("source endpoint: %s\n", v[0]);
	for (char *p = strstr(buf, "{\"database\""); p != NULL;
	     p = strstr(p + 1, "{\"database\"")) {
		static const char *keys[] = {
		    "database",    "state",           "bytes_done",
		    "bytes_total", "applied_index",   "source_commit_index",
		    "lag_entries", "lag_ms",          "reconnects",
		    "error",       "rate_bytes_per_s"};
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
			field(p, keys[k], v[k], sizeof v[k]);
		printf("%s: %s\n  bootstrap: %s / %s bytes (%s B/s)\n"
		       "  applied index %s, source commit index %s, lag %s "
		       "entries / %s ms\n"
		       "  reconnects %s%s%s\n",
		       v[0], v[1], v[2], v[3], v[10], v[4], v[5], v[6], v[7],
		       v[8], v[9][0] ? ", last error: " : "", v[9]);
	}
	free(buf);
	return 0;
}
