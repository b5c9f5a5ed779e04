/* transport_cert: checks of the [tls] files for check-config (see
 * transport_cert.h), with wolfSSL's certificate parser and verifier: the
 * same library that would refuse them in the handshake. */
#include "transport/transport_cert.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>

#include <wolfssl/openssl/evp.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include "transport/transport_tls.h"

/* The bits wolfSSL_X509_get_extended_key_usage() returns (OpenSSL's
 * XKU_*, spelled here as transport_tls.c spells its SAN tags): 0 when
 * the certificate has no extendedKeyUsage. */
enum { XKU_SERVER = 0x1, XKU_CLIENT = 0x2, XKU_ANY = 0x100 };

/* Expiry closer than this is worth a note. */
#define EXPIRY_NOTE_DAYS 30

static void problem(struct transport_cert_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void problem(struct transport_cert_report *r, const char *fmt, ...)
{
	va_list ap;

	if (r->nproblems >= TRANSPORT_CERT_PROBLEMS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(r->problems[r->nproblems++], MA_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
}

static void note(struct transport_cert_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(struct transport_cert_report *r, const char *fmt, ...)
{
	va_list ap;

	if (r->nnotes >= sizeof r->notes / sizeof r->notes[0])
		return;
	va_start(ap, fmt);
	vsnprintf(r->notes[r->nnotes++], MA_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
}

static void asn1_time_text(WOLFSSL_ASN1_TIME *t, char *out, size_t len)
{
	if (t == NULL || wolfSSL_ASN1_TIME_to_string(t, out, (int)len) == NULL)
		snprintf(out, len, "?");
}

/* The key is the certificate's: a signature made with the key verifies
 * with the certificate's public key. (wolfSSL's check_private_key
 * accepted another key of the same type here.) */
static void check_key(WOLFSSL_X509 *x, const char *cert_file,
                      const char *key_file, struct transport_cert_report *r)
{
	WOLFSSL_EVP_PKEY *key = NULL, *pub = NULL;
	FILE *f = fopen(key_file, "r");
	bool match;

	if (f != NULL) {
		key = wolfSSL_PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (key == NULL) {
		problem(r,
		        "[tls] key_file %s: not a PEM private key wolfSSL can "
		        "read (encrypted keys are not supported): give the "
		        "unencrypted key the certificate was made for",
		        key_file);
		return;
	}
	pub = wolfSSL_X509_get_pubkey(x);
	match = tls_key_pair_matches(key, pub) == 1;
	if (!match)
		problem(r,
		        "[tls] key_file %s does not match [tls] cert_file %s "
		        "(a signature made with the key does not verify with "
		        "the certificate's public key): give the key the "
		        "certificate was made for, or a certificate for this "
		        "key",
		        key_file, cert_file);
	wolfSSL_EVP_PKEY_free(pub);
	wolfSSL_EVP_PKEY_free(key);
}

/* Signed by ca_file. Dates are judged by the caller, by name. */
static void check_chain(const char *cert_file, const char *ca_file,
                        struct transport_cert_report *r)
{
	WOLFSSL_CERT_MANAGER *cm = wolfSSL_CertManagerNew();
	int rc;

	if (cm == NULL) {
		problem(r, "out of memory checking %s", cert_file);
		return;
	}
	rc = wolfSSL_CertManagerLoadCA(cm, ca_file, NULL);
	if (rc != WOLFSSL_SUCCESS) {
		problem(r,
		        "[tls] ca_file %s: no CA certificate wolfSSL can use "
		        "(%s, %d): give the PEM certificate of the CA",
		        ca_file,
		        wolfSSL_ERR_reason_error_string((unsigned long)rc), rc);
		wolfSSL_CertManagerFree(cm);
		return;
	}
	rc = wolfSSL_CertManagerVerify(cm, cert_file, WOLFSSL_FILETYPE_PEM);
	if (rc == ASN_NO_SIGNER_E || rc == ASN_SIG_CONFIRM_E)
		problem(r,
		        "[tls] cert_file %s is not signed by the CA in [tls] "
		        "ca_file %s: sources and mirrors verify each other "
		        "against that CA, so the peer would refuse it; have "
		        "this CA sign it (docs/OPERATIONS.md, Certificates)",
		        cert_file, ca_file);
	else if (rc != WOLFSSL_SUCCESS && rc != ASN_AFTER_DATE_E &&
	         rc != ASN_BEFORE_DATE_E && rc != ASN_VERSION_E)
		problem(
		    r, "[tls] cert_file %s does not verify against %s: %s (%d)",
		    cert_file, ca_file,
		    wolfSSL_ERR_reason_error_string((unsigned long)rc), rc);
	wolfSSL_CertManagerFree(cm);
}

static void check_dates(WOLFSSL_X509 *x, const char *cert_file,
                        struct transport_cert_report *r)
{
	WOLFSSL_ASN1_TIME *nb = wolfSSL_X509_get_notBefore(x);
	WOLFSSL_ASN1_TIME *na = wolfSSL_X509_get_notAfter(x);
	char before[64];
	time_t soon = time(NULL) + (time_t)EXPIRY_NOTE_DAYS * 86400;

	asn1_time_text(nb, before, sizeof before);
	asn1_time_text(na, r->not_after, sizeof r->not_after);
	if (nb != NULL && wolfSSL_X509_cmp_current_time(nb) > 0)
		problem(r,
		        "[tls] cert_file %s is not valid yet (notBefore %s): "
		        "check this host's clock, or issue a certificate "
		        "valid from now",
		        cert_file, before);
	if (na != NULL && wolfSSL_X509_cmp_current_time(na) < 0)
		problem(r,
		        "[tls] cert_file %s expired on %s: issue a new one "
		        "(docs/OPERATIONS.md, Certificates)",
		        cert_file, r->not_after);
	else if (na != NULL && wolfSSL_X509_cmp_time(na, &soon) < 0)
		note(r, "[tls] cert_file %s expires on %s, within %d days",
		     cert_file, r->not_after, EXPIRY_NOTE_DAYS);
}

static void check_eku(WOLFSSL_X509 *x, const char *cert_file, unsigned uses,
                      struct transport_cert_report *r)
{
	unsigned eku = wolfSSL_X509_get_extended_key_usage(x);

	if (eku == 0) {
		note(r,
		     "[tls] cert_file %s has no extendedKeyUsage: TLS accepts "
		     "it for any use; the recipe in docs/OPERATIONS.md sets "
		     "%s",
		     cert_file,
		     uses == TRANSPORT_CERT_SERVER ? "serverAuth"
		     : uses == TRANSPORT_CERT_CLIENT
		         ? "clientAuth"
		         : "serverAuth and clientAuth");
		return;
	}
	if ((eku & XKU_ANY) != 0)
		return;
	if ((uses & TRANSPORT_CERT_SERVER) != 0 && (eku & XKU_SERVER) == 0)
		problem(r,
		        "[tls] cert_file %s: its extendedKeyUsage lacks "
		        "serverAuth, which serve needs (mirrors refuse it as "
		        "a server certificate); issue it with "
		        "extendedKeyUsage = serverAuth",
		        cert_file);
	if ((uses & TRANSPORT_CERT_CLIENT) != 0 && (eku & XKU_CLIENT) == 0)
		problem(r,
		        "[tls] cert_file %s: its extendedKeyUsage lacks "
		        "clientAuth, which follow needs (sources refuse it as "
		        "a client certificate); issue it with "
		        "extendedKeyUsage = clientAuth",
		        cert_file);
}

int transport_cert_check(const char *cert_file, const char *key_file,
                         const char *ca_file, unsigned uses,
                         struct transport_cert_report *report, char *errmsg)
{
	WOLFSSL_X509 *x;
	WOLFSSL_X509_NAME *subj;
	long version;
	int rc;

	memset(report, 0, sizeof *report);
	x = wolfSSL_X509_load_certificate_file(cert_file, WOLFSSL_FILETYPE_PEM);
	if (x == NULL)
		return ma_errorf(errmsg, MA_ERR_TLS,
		                 "[tls] cert_file %s: no PEM certificate "
		                 "wolfSSL can read (an X.509 v1 certificate, "
		                 "a damaged file or another format?): give an "
		                 "X.509 v3 certificate in PEM "
		                 "(docs/OPERATIONS.md, Certificates)",
		                 cert_file);
	subj = wolfSSL_X509_get_subject_name(x);
	if (subj == NULL ||
	    wolfSSL_X509_NAME_oneline(subj, report->subject,
	                              (int)sizeof report->subject) == NULL)
		snprintf(report->subject, sizeof report->subject, "?");
	/* 0-based as in the encoding: 2 is v3. */
	version = wolfSSL_X509_get_version(x);
	if (version != 2)
		problem(report,
		        "[tls] cert_file %s is an X.509 v%ld certificate: "
		        "peers refuse anything but v3 (\"ASN version "
		        "error\"); issue a v3 certificate, e.g. with the "
		        "openssl recipe in docs/OPERATIONS.md (-extfile with "
		        "subjectAltName)",
		        cert_file, version + 1);
	rc = tls_cert_identity(x, report->identity);
	if (rc == MA_ERR_LIMIT)
		problem(report,
		        "[tls] cert_file %s: its identity (first SAN URI, else "
		        "SAN DNS, else CN) is longer than %d bytes, which "
		        "peers refuse; issue it with a shorter name",
		        cert_file, TLS_IDENTITY_MAX - 1);
	else if (rc != 0)
		problem(report,
		        "[tls] cert_file %s names no usable identity (no SAN "
		        "URI, SAN DNS name or subject CN of printable text, a "
		        "DNS name or CN without ':'); issue it with "
		        "subjectAltName = URI:... or DNS:...",
		        cert_file);
	check_dates(x, cert_file, report);
	check_eku(x, cert_file, uses, report);
	check_key(x, cert_file, key_file, report);
	wolfSSL_X509_free(x);
	check_chain(cert_file, ca_file, report);
	return 0;
}
