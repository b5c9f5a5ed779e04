/* Parsing rules shared by the whole tree (common/parse.h). */
#include "common/parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool parse_name_chars_valid(const char *s, size_t len, size_t max)
{
	if (s == NULL || len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

bool parse_name_valid(const char *s, size_t len)
{
	if (!parse_name_chars_valid(s, len, PARSE_NAME_MAX))
		return false;
	/* Names become directory names: "." and ".." are not names. */
	return !(len == 1 && s[0] == '.') &&
	       !(len == 2 && s[0] == '.' && s[1] == '.');
}

bool parse_name_valid_str(const char *s)
{
	return s != NULL && parse_name_valid(s, strnlen(s, PARSE_NAME_MAX + 1));
}

/* ---- numbers, sizes, durations ---- */

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define TiB (1024ull * GiB)
#define SEC_MS 1000ull
#define MIN_MS (60 * SEC_MS)
#define HOUR_MS (60 * MIN_MS)

static int reason(char *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes why (when the caller wants it) and returns MA_ERR_INVAL, for
 * `return reason(why, "...")`. */
static int reason(char *why, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL) {
		va_start(ap, fmt);
		vsnprintf(why, PARSE_WHY_SIZE, fmt, ap);
		va_end(ap);
	}
	return MA_ERR_INVAL;
}

int parse_uint64_len(const char *s, size_t len, uint64_t *out, char *why)
{
	uint64_t v = 0;

	if (len == 0)
		return reason(why, "empty");
	if (s[0] == '-')
		return reason(why, "must not be negative");
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';
		if (d > 9)
			return reason(why, "not a whole number");
		if (v > (UINT64_MAX - d) / 10) {
			/* Junk after an overflow is still junk: say that. */
			for (; i < len; i++)
				if (s[i] < '0' || s[i] > '9')
					return reason(why,
					              "not a whole number");
			return reason(why, "too large");
		}
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int parse_uint64(const char *s, uint64_t *out, char *why)
{
	return parse_uint64_len(s, strlen(s), out, why);
}

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit size_units[] = {
    {"", 1},    {"b", 1},     {"k", KiB}, {"kib", KiB},
    {"m", MiB}, {"mib", MiB}, {"g", GiB}, {"gib", GiB},
    {"t", TiB}, {"tib", TiB}, {NULL, 0},
};

static const struct unit duration_units[] = {
    {"", 1},       {"ms", 1},       {"s", SEC_MS},  {"sec", SEC_MS},
    {"m", MIN_MS}, {"min", MIN_MS}, {"h", HOUR_MS}, {NULL, 0},
};

/* "<digits>[blanks]<unit>" scaled by the unit's multiplier. */
static int parse_scaled(const char *s, const struct unit *units,
                        const char *what, uint64_t *out, char *why)
{
	size_t digits = strspn(s, "0123456789");
	const char *u = s + digits;
	uint64_t v = 0;
	int rc;

	if (*s == '\0')
		return reason(why, "empty");
	if (*s == '-')
		return reason(why, "must not be negative");
	if (digits == 0)
		return reason(why, "not a %s", what);
	if (*u == '.' || *u == ',')
		return reason(why, "fractions are not supported; use a smaller "
		                   "unit");
	while (*u == ' ' || *u == '\t')
		u++;
	rc = parse_uint64_len(s, digits, &v, NULL);
	if (rc != 0)
		return reason(why, "too large");
	for (const struct unit *it = units; it->name != NULL; it++) {
		if (strcasecmp(u, it->name) != 0)
			continue;
		if (v > UINT64_MAX / it->mult)
			return reason(why, "too large");
		*out = v * it->mult;
		return 0;
	}
	if (units == size_units) {
		if (strcasecmp(u, "kb") == 0 || strcasecmp(u, "mb") == 0 ||
		    strcasecmp(u, "gb") == 0 || strcasecmp(u, "tb") == 0)
			return reason(why,
			              "ambiguous unit \"%s\": write %ciB "
			              "(units are binary)",
			              u, toupper((unsigned char)u[0]));
		return reason(why,
		              "unknown size unit \"%.20s\": use B, KiB, "
		              "MiB, GiB or TiB",
		              u);
	}
	return reason(
	    why, "unknown duration unit \"%.20s\": use ms, s, min or h", u);
}

int parse_size(const char *s, uint64_t *out, char *why)
{
	return parse_scaled(s, size_units, "size", out, why);
}

int parse_duration_ms(const char *s, uint64_t *out, char *why)
{
	return parse_scaled(s, duration_units, "duration", out, why);
}

void parse_format_size(uint64_t v, char *buf, size_t size)
{
	if (v >= TiB && v % TiB == 0)
		snprintf(buf, size, "%lluTiB", (unsigned long long)(v / TiB));
	else if (v >= GiB && v % GiB == 0)
		snprintf(buf, size, "%lluGiB", (unsigned long long)(v / GiB));
	else if (v >= MiB && v % MiB == 0)
		snprintf(buf, size, "%lluMiB", (unsigned long long)(v / MiB));
	else if (v >= KiB && v % KiB == 0)
		snprintf(buf, size, "%lluKiB", (unsigned long long)(v / KiB));
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
}

void parse_format_duration(uint64_t v, char *buf, size_t size)
{
	if (v >= HOUR_MS && v % HOUR_MS == 0)
		snprintf(buf, size, "%lluh", (unsigned long long)(v / HOUR_MS));
	else if (v >= MIN_MS && v % MIN_MS == 0)
		snprintf(buf, size, "%llumin",
		         (unsigned long long)(v / MIN_MS));
	else if (v >= SEC_MS && v % SEC_MS == 0)
		snprintf(buf, size, "%llus", (unsigned long long)(v / SEC_MS));
	else
		snprintf(buf, size, "%llums", (unsigned long long)v);
}

/* ---- hosts and endpoints ---- */

static bool is_dns_name(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > PARSE_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

int parse_host(const char *s, size_t len, char *out, char *why)
{
	char tmp[PARSE_HOST_MAX + 1];
	unsigned char addr[16];

	if (len == 0)
		return reason(why, "missing host");
	if (len > PARSE_HOST_MAX)
		return reason(why, "host name too long");
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (strlen(tmp) != len)
		return reason(why, "NUL byte in host");
	if (strchr(tmp, ':') != NULL) {
		if (inet_pton(AF_INET6, tmp, addr) != 1)
			return reason(why, "invalid IPv6 address");
	} else if (strspn(tmp, "0123456789.") == len) {
		if (inet_pton(AF_INET, tmp, addr) != 1)
			return reason(why, "invalid IPv4 address");
	} else if (!is_dns_name(tmp, len)) {
		return reason(why,
		              "invalid host name (letters, digits, '-' and "
		              "'.')");
	}
	memcpy(out, tmp, len + 1);
	return 0;
}

int parse_endpoint(const char *s, unsigned flags, struct parse_endpoint *ep,
                   char *why)
{
	struct parse_endpoint tmp;
	const char *host = s, *port;
	size_t host_len;
	unsigned char addr[16];
	uint64_t v;

	if (*s == '\0')
		return reason(why, "empty (expected host:port)");
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL)
			return reason(why, "missing ']'");
		host = s + 1;
		host_len = (size_t)(close - host);
		if (memchr(host, ':', host_len) == NULL)
			return reason(why,
			              "brackets are for IPv6 addresses only");
		if (close[1] != ':')
			return reason(why, "missing :port after ']'");
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon == NULL)
			return reason(why,
			              "missing :port (expected host:port)");
		if (strchr(s, ':') != colon)
			return reason(why,
			              "an IPv6 address needs brackets, e.g. "
			              "[::1]:4433");
		host_len = (size_t)(colon - s);
		port = colon + 1;
	}
	if (parse_host(host, host_len, tmp.host, why) != 0)
		return MA_ERR_INVAL;
	if ((flags & PARSE_ENDPOINT_NUMERIC) &&
	    inet_pton(AF_INET, tmp.host, addr) != 1 &&
	    inet_pton(AF_INET6, tmp.host, addr) != 1)
		return reason(why, "a listen address is numeric: IPv4 or "
		                   "[IPv6], e.g. 0.0.0.0:4433 or [::]:4433");
	if (*port == '\0')
		return reason(why, "missing port");
	if (strspn(port, "0123456789") != strlen(port))
		return reason(why, "port is not a number");
	/* All digits: a parse failure can only be an overflow. */
	if (parse_uint64(port, &v, NULL) != 0 || v > 65535 ||
	    (v == 0 && !(flags & PARSE_ENDPOINT_PORT0)))
		return reason(why, "port out of range %s-65535",
		              (flags & PARSE_ENDPOINT_PORT0) ? "0" : "1");
	tmp.port = (uint16_t)v;
	*ep = tmp;
	return 0;
}

void parse_endpoint_format(const struct parse_endpoint *ep, char *buf,
                           size_t size)
{
	snprintf(buf, size, strchr(ep->host, ':') != NULL ? "[%s]:%u" : "%s:%u",
	         ep->host, (unsigned)ep->port);
}

/* ---- hex ---- */

int parse_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int parse_hex(const char *s, size_t len, uint8_t *out, size_t n, char *why)
{
	if (len != 2 * n)
		return reason(why, "expected %zu hex digits, got %zu", 2 * n,
		              len);
	for (size_t i = 0; i < n; i++) {
		int hi = parse_hex_digit((unsigned char)s[2 * i]);
		int lo = parse_hex_digit((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return reason(why, "not a hex digit at position %zu",
			              hi < 0 ? 2 * i : 2 * i + 1);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
