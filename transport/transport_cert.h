/* transport_cert: what `mirror-agent check-config` checks of the [tls]
 * files before a handshake would find it out, one problem per message with
 * what to do. The identity rule is transport_tls.c's (tls_cert_identity),
 * the one a peer applies. */
#ifndef MIRROR_TRANSPORT_CERT_H
#define MIRROR_TRANSPORT_CERT_H

#include <stdint.h>

#include "common/errors.h"

/* What the certificate is used for: serve presents it as a server
 * certificate (extendedKeyUsage serverAuth), follow as a client
 * certificate (clientAuth); a file used by both needs both. */
#define TRANSPORT_CERT_SERVER 1u
#define TRANSPORT_CERT_CLIENT 2u

#define TRANSPORT_CERT_PROBLEMS_MAX 6

struct transport_cert_report {
	/* The identity a peer reads from the certificate: the first SAN URI,
	 * else the first SAN DNS name, else the subject CN ("" if none). */
	char identity[256];
	char subject[256];
	char not_after[64]; /* e.g. "Nov 29 03:00:00 2027 GMT" */
	/* Each a whole sentence naming the file, what is wrong and what to
	 * do. */
	unsigned nproblems;
	char problems[TRANSPORT_CERT_PROBLEMS_MAX][MA_ERRMSG_SIZE];
	/* Worth knowing but not wrong (no extendedKeyUsage, expiring within
	 * 30 days). */
	unsigned nnotes;
	char notes[2][MA_ERRMSG_SIZE];
};

/* Checks cert_file (PEM; its first certificate), key_file and ca_file for
 * `uses` (TRANSPORT_CERT_SERVER and/or _CLIENT) at the current time:
 * X.509 v3, the key is the certificate's, it is signed by ca_file, now is
 * within its validity dates, its extendedKeyUsage allows each use, and it
 * names an identity. Returns 0 when the files could be examined (*report
 * then lists the problems, possibly none), MA_ERR_TLS when the
 * certificate cannot be read at all (errmsg says why), MA_ERR_NOMEM. */
int transport_cert_check(const char *cert_file, const char *key_file,
                         const char *ca_file, unsigned uses,
                         struct transport_cert_report *report, char *errmsg);

#endif
