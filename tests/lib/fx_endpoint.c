/* The test tools' ADDR:PORT arguments (tests/lib/fixture.h), read by
 * common/parse's endpoint rule: the tools accept what the agent accepts. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/parse.h"
#include "tests/lib/fixture.h"

void fx_endpoint4_or_exit(const char *prog, const char *s,
                          struct sockaddr_in *sa)
{
	struct parse_endpoint ep;
	char why[PARSE_WHY_SIZE];

	if (parse_endpoint(s, PARSE_ENDPOINT_NUMERIC | PARSE_ENDPOINT_PORT0,
	                   &ep, why) != 0) {
		fprintf(stderr, "%s: '%s': %s (expected ADDR:PORT)\n", prog, s,
		        why);
		exit(2);
	}
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons(ep.port);
	if (inet_pton(AF_INET, ep.host, &sa->sin_addr) != 1) {
		fprintf(stderr, "%s: '%s': not an IPv4 address\n", prog,
		        ep.host);
		exit(2);
	}
}
