/* Parsing of the small values every part of the tree reads from a user, a
 * file or the network: one home per rule, so that a flag, a config key and
 * a wire field that mean the same thing accept the same text. */
#ifndef MIRROR_AGENT_PARSE_H
#define MIRROR_AGENT_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* Longest name (database id, cluster id). */
#define PARSE_NAME_MAX 64

/* The one rule for names that become file or directory names and travel on
 * the wire (database ids, cluster ids): 1..PARSE_NAME_MAX characters of
 * [A-Za-z0-9._-], and neither "." nor "..". len is the length of s (s need
 * not be NUL-terminated); a NUL inside it makes it invalid. */
bool parse_name_valid(const char *s, size_t len);
/* The same for a NUL-terminated string. */
bool parse_name_valid_str(const char *s);

/* What the rule says, for error messages. */
#define PARSE_NAME_RULE "1-64 characters of [A-Za-z0-9._-], not \".\" or \"..\""

#endif
