/* Parsing rules shared by the whole tree (common/parse.h). */
#include "common/parse.h"

#include <string.h>

bool parse_name_valid(const char *s, size_t len)
{
	if (s == NULL || len == 0 || len > PARSE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	/* Names become directory names: "." and ".." are not names. */
	return !(len == 1 && s[0] == '.') &&
	       !(len == 2 && s[0] == '.' && s[1] == '.');
}

bool parse_name_valid_str(const char *s)
{
	return s != NULL && parse_name_valid(s, strnlen(s, PARSE_NAME_MAX + 1));
}
