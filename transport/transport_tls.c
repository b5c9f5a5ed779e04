/* transport: wolfSSL contexts for QUIC (through ngtcp2's crypto helper),
 * mutual TLS and extraction of the peer identity. */
#include "transport/transport_tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <wolfssl/options.h>

#include <wolfssl/error-ssl.h>
#include <wolfssl/quic.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include <ngtcp2/ngtcp2_crypto_wolfssl.h>

#include "common/errors.h"

static const unsigned char alpn_h3[] = "\x02h3";

/* GeneralName choice tags (RFC 5280 4.2.1.6), the values wolfSSL stores in
 * WOLFSSL_GENERAL_NAME.type; spelled here to avoid the OpenSSL-compat
 * headers. */
enum { SAN_DNS = 2, SAN_URI = 6, SAN_IP = 7 };

static const char *wolf_err(void)
{
	static char buf[WOLFSSL_MAX_ERROR_SZ];
	unsigned long e = wolfSSL_ERR_get_error();

	if (e == 0)
		return "no further detail";
	return wolfSSL_ERR_error_string(e, buf);
}

static int is_ip_literal(const char *s)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, s, addr) == 1 ||
	       inet_pton(AF_INET6, s, addr) == 1;
}

static int select_alpn(WOLFSSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
	const unsigned char *p = in, *end = in + inlen;

	/* The list is length-prefixed; a length running past the end is a
	 * malformed list, refused like a missing "h3". */
	while (p < end) {
		unsigned int n = *p;

		if (n > (unsigned int)(end - p - 1))
			break;
		if (n == 2 && memcmp(p + 1, "h3", 2) == 0) {
			*out = p + 1;
			*outlen = 2;
			return SSL_TLSEXT_ERR_OK;
		}
		p += 1 + n;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* What the verify callback saw of the certificate that failed, for
 * tls_describe_failure() on the same connection: the failure is described
 * right after the handshake step that ran the callback, on the same
 * thread, so one slot per thread is enough (ssl tells whose it is). */
static _Thread_local struct {
	const WOLFSSL *ssl;
	int error;
	char names[160];
	char not_before[40], not_after[40];
} seen;

/* Appends "what" to buf as printable ASCII (the names come from the
 * peer: nothing else goes into a log line). */
static void add_name(char *buf, size_t len, const char *kind,
                     const unsigned char *p, int n)
{
	size_t at = strlen(buf);

	if (p == NULL || n <= 0 || at + 8 >= len)
		return;
	at +=
	    (size_t)snprintf(buf + at, len - at, "%s%s", at ? ", " : "", kind);
	for (int i = 0; i < n && at + 4 < len; i++)
		buf[at++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	buf[at] = '\0';
}

/* Appends "IP:ADDR" for an IP address SAN (4 or 16 raw bytes). */
static void add_ip(char *buf, size_t len, WOLFSSL_ASN1_STRING *v)
{
	char a[INET6_ADDRSTRLEN];
	int n = v != NULL ? wolfSSL_ASN1_STRING_length(v) : 0;
	const unsigned char *p =
	    v != NULL ? wolfSSL_ASN1_STRING_get0_data(v) : NULL;

	if (p == NULL || (n != 4 && n != 16) ||
	    inet_ntop(n == 4 ? AF_INET : AF_INET6, p, a, sizeof a) == NULL)
		return;
	add_name(buf, len, "IP:", (const unsigned char *)a, (int)strlen(a));
}

static void describe_names(WOLFSSL_X509 *x, char *buf, size_t len)
{
	WOLFSSL_STACK *names;
	WOLFSSL_X509_NAME *subj;
	int idx;

	buf[0] = '\0';
	names = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (names != NULL) {
		int n = wolfSSL_sk_GENERAL_NAME_num(names);

		for (int i = 0; i < n; i++) {
			WOLFSSL_GENERAL_NAME *gn =
			    wolfSSL_sk_GENERAL_NAME_value(names, i);
			WOLFSSL_ASN1_STRING *v = NULL;
			const char *kind = NULL;

			if (gn != NULL && gn->type == SAN_DNS) {
				v = gn->d.dNSName;
				kind = "DNS:";
			} else if (gn != NULL && gn->type == SAN_URI) {
				v = gn->d.uniformResourceIdentifier;
				kind = "URI:";
			}
			if (gn != NULL && gn->type == SAN_IP)
				add_ip(buf, len, gn->d.iPAddress);
			else if (v != NULL)
				add_name(buf, len, kind,
				         wolfSSL_ASN1_STRING_get0_data(v),
				         wolfSSL_ASN1_STRING_length(v));
		}
		wolfSSL_sk_GENERAL_NAME_pop_free(names,
		                                 wolfSSL_GENERAL_NAME_free);
	}
	subj = wolfSSL_X509_get_subject_name(x);
	idx =
	    subj == NULL
	        ? -1
	        : wolfSSL_X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (idx >= 0) {
		WOLFSSL_ASN1_STRING *v = wolfSSL_X509_NAME_ENTRY_get_data(
		    wolfSSL_X509_NAME_get_entry(subj, idx));

		if (v != NULL)
			add_name(buf, len,
			         "CN=", wolfSSL_ASN1_STRING_get0_data(v),
			         wolfSSL_ASN1_STRING_length(v));
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "no names");
}

static int verify_cb(int ok, WOLFSSL_X509_STORE_CTX *st)
{
	WOLFSSL_X509 *x;

	if (ok)
		return ok;
	seen.ssl = wolfSSL_X509_STORE_CTX_get_ex_data(
	    st, wolfSSL_get_ex_data_X509_STORE_CTX_idx());
	seen.error = wolfSSL_X509_STORE_CTX_get_error(st);
	seen.names[0] = seen.not_before[0] = seen.not_after[0] = '\0';
	x = wolfSSL_X509_STORE_CTX_get_current_cert(st);
	if (x != NULL) {
		describe_names(x, seen.names, sizeof seen.names);
		if (wolfSSL_ASN1_TIME_to_string(wolfSSL_X509_get_notBefore(x),
		                                seen.not_before,
		                                sizeof seen.not_before) == NULL)
			seen.not_before[0] = '\0';
		if (wolfSSL_ASN1_TIME_to_string(wolfSSL_X509_get_notAfter(x),
		                                seen.not_after,
		                                sizeof seen.not_after) == NULL)
			seen.not_after[0] = '\0';
	}
	return ok; /* the failure stands */
}

/* 1 when the context's private key made a signature its certificate's
 * public key verifies. wolfSSL_CTX_check_private_key() (5.5.4) passes an
 * ECDSA key of the same curve that is not the certificate's, which would
 * only show later as a handshake the peer refuses (decrypt_error). */
int tls_key_pair_matches(WOLFSSL_EVP_PKEY *priv, WOLFSSL_EVP_PKEY *pub)
{
	static const unsigned char msg[] = "mirror-agent key check";
	WOLFSSL_EVP_MD_CTX *md = wolfSSL_EVP_MD_CTX_new();
	unsigned char sig[1024];
	size_t siglen = sizeof sig;
	int ok = 0;

	if (pub != NULL && priv != NULL && md != NULL &&
	    wolfSSL_EVP_DigestSignInit(md, NULL, wolfSSL_EVP_sha256(), NULL,
	                               priv) == WOLFSSL_SUCCESS &&
	    wolfSSL_EVP_DigestSignUpdate(md, msg, sizeof msg) ==
	        WOLFSSL_SUCCESS &&
	    wolfSSL_EVP_DigestSignFinal(md, sig, &siglen) == WOLFSSL_SUCCESS) {
		wolfSSL_EVP_MD_CTX_free(md);
		md = wolfSSL_EVP_MD_CTX_new();
		ok = md != NULL &&
		     wolfSSL_EVP_DigestVerifyInit(md, NULL,
		                                  wolfSSL_EVP_sha256(), NULL,
		                                  pub) == WOLFSSL_SUCCESS &&
		     wolfSSL_EVP_DigestVerifyUpdate(md, msg, sizeof msg) ==
		         WOLFSSL_SUCCESS &&
		     wolfSSL_EVP_DigestVerifyFinal(md, sig, siglen) ==
		         WOLFSSL_SUCCESS;
	}
	if (md != NULL)
		wolfSSL_EVP_MD_CTX_free(md);
	return ok;
}

static int key_matches(WOLFSSL_CTX *ctx)
{
	WOLFSSL_X509 *x = wolfSSL_CTX_get0_certificate(ctx);
	WOLFSSL_EVP_PKEY *pub = x != NULL ? wolfSSL_X509_get_pubkey(x) : NULL;
	int ok = tls_key_pair_matches(wolfSSL_CTX_get0_privatekey(ctx), pub);

	if (pub != NULL)
		wolfSSL_EVP_PKEY_free(pub);
	return ok;
}

static int load_identity(WOLFSSL_CTX *ctx, const char *cert_file,
                         const char *key_file, int server, char *errmsg)
{
	WOLFSSL_X509 *x;

	if (wolfSSL_CTX_use_certificate_chain_file(ctx, cert_file) !=
	    WOLFSSL_SUCCESS)
		return ma_errorf(errmsg, MA_ERR_TLS,
		                 "cannot load certificate chain %s: %s "
		                 "(expect PEM)",
		                 cert_file, wolf_err());
	/* wolfSSL clients accept a version 1 server certificate, but other
	 * QUIC stacks and every wolfSSL server refuse version 1: refuse to
	 * serve with one rather than let some mirrors in. (A mirror's own v1
	 * certificate is named when the server refuses it.) */
	x = wolfSSL_CTX_get0_certificate(ctx);
	if (server && x != NULL && wolfSSL_X509_get_version(x) < 2)
		return ma_errorf(
		    errmsg, MA_ERR_TLS,
		    "certificate %s is X.509 version 1; version 3 is "
		    "required: reissue it as v3 with SAN DNS and "
		    "EKU serverAuth (see OPERATIONS.md)",
		    cert_file);
	if (wolfSSL_CTX_use_PrivateKey_file(
	        ctx, key_file, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)
		return ma_errorf(errmsg, MA_ERR_TLS,
		                 "cannot load private key %s: %s (expect PEM)",
		                 key_file, wolf_err());
	if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS ||
	    !key_matches(ctx))
		return ma_errorf(
		    errmsg, MA_ERR_TLS,
		    "private key %s does not match certificate %s: "
		    "give the key the certificate was issued for",
		    key_file, cert_file);
	return 0;
}

void tls_peer_cert_describe(WOLFSSL *ssl, char *buf, size_t len)
{
	WOLFSSL_X509 *x =
	    ssl != NULL ? wolfSSL_get_peer_certificate(ssl) : NULL;
	unsigned char serial[64];
	int n = (int)sizeof serial;
	char subj[256];
	size_t at;

	if (x == NULL) {
		snprintf(buf, len, "no certificate");
		return;
	}
	at = (size_t)snprintf(buf, len, "serial ");
	if (wolfSSL_X509_get_serial_number(x, serial, &n) == WOLFSSL_SUCCESS)
		for (int i = 0; i < n && at + 3 < len; i++)
			at += (size_t)snprintf(buf + at, len - at, "%02X",
			                       serial[i]);
	else if (at + 2 < len)
		at += (size_t)snprintf(buf + at, len - at, "?");
	if (wolfSSL_X509_NAME_oneline(wolfSSL_X509_get_subject_name(x), subj,
	                              (int)sizeof subj) == NULL)
		snprintf(subj, sizeof subj, "?");
	/* The subject comes from the peer: printable ASCII only. */
	for (char *p = subj; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	if (at < len)
		snprintf(buf + at, len - at, ", subject %s", subj);
	wolfSSL_X509_free(x);
}

int tls_own_cert_is_v1(WOLFSSL *ssl)
{
	WOLFSSL_X509 *x = wolfSSL_get_certificate(ssl);

	return x != NULL && wolfSSL_X509_get_version(x) < 2;
}

int tls_server_ctx_new(WOLFSSL_CTX **out, const char *cert_file,
                       const char *key_file, const char *client_ca_file,
                       char *errmsg)
{
	WOLFSSL_CTX *ctx;
	int rv;

	*out = NULL;
	if (cert_file == NULL || key_file == NULL || client_ca_file == NULL)
		return ma_errorf(errmsg, MA_ERR_TLS,
		                 "server TLS needs cert_file, key_file and "
		                 "client_ca_file");
	ctx = wolfSSL_CTX_new(wolfTLSv1_3_server_method());
	if (ctx == NULL)
		return ma_errorf(errmsg, MA_ERR_TLS, "wolfSSL_CTX_new: %s",
		                 wolf_err());
	if (ngtcp2_crypto_wolfssl_configure_server_context(ctx) != 0) {
		rv = ma_errorf(errmsg, MA_ERR_TLS,
		               "cannot configure wolfSSL for QUIC");
		goto err_ctx;
	}
	wolfSSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	rv = load_identity(ctx, cert_file, key_file, 1, errmsg);
	if (rv != 0)
		goto err_ctx;
	if (wolfSSL_CTX_load_verify_locations(ctx, client_ca_file, NULL) !=
	    WOLFSSL_SUCCESS) {
		rv = ma_errorf(errmsg, MA_ERR_TLS,
		               "cannot load client CA file %s: %s",
		               client_ca_file, wolf_err());
		goto err_ctx;
	}
	wolfSSL_CTX_set_verify(
	    ctx, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT,
	    verify_cb);
	/* No resumption and no 0-RTT, ever. A resumed TLS 1.3 session
	 * carries no client certificate, so the server would have no
	 * identity to authorize; and early data is replayable and reaches
	 * us before the HTTP/3 layer exists. wolfSSL's QUIC tickets allow
	 * early data (max_early_data 0xffffffff) unless told otherwise.
	 * Issuing no tickets makes every resuming client (quic-go tries by
	 * default) fall back to a full handshake with its certificate;
	 * max_early_data 0 and no session cache close the other doors. */
	if (wolfSSL_CTX_no_ticket_TLSv13(ctx) < 0 ||
	    wolfSSL_CTX_set_max_early_data(ctx, 0) < 0) {
		rv = ma_errorf(errmsg, MA_ERR_TLS,
		               "cannot turn off TLS session tickets and early "
		               "data: %s",
		               wolf_err());
		goto err_ctx;
	}
	wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
	*out = ctx;
	return 0;

err_ctx:
	wolfSSL_CTX_free(ctx);
	return rv;
}

int tls_client_ctx_new(WOLFSSL_CTX **out, const char *ca_file,
                       const char *cert_file, const char *key_file,
                       char *errmsg)
{
	WOLFSSL_CTX *ctx;
	int rv;

	*out = NULL;
	if (ca_file == NULL)
		return ma_errorf(errmsg, MA_ERR_TLS,
		                 "client TLS needs ca_file (the CA that "
		                 "signed the server certificate)");
	if ((cert_file == NULL) != (key_file == NULL))
		return ma_errorf(errmsg, MA_ERR_TLS,
		                 "client certificate and key must be given "
		                 "together");
	ctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
	if (ctx == NULL)
		return ma_errorf(errmsg, MA_ERR_TLS, "wolfSSL_CTX_new: %s",
		                 wolf_err());
	if (ngtcp2_crypto_wolfssl_configure_client_context(ctx) != 0) {
		rv = ma_errorf(errmsg, MA_ERR_TLS,
		               "cannot configure wolfSSL for QUIC");
		goto err_ctx;
	}
	if (wolfSSL_CTX_load_verify_locations(ctx, ca_file, NULL) !=
	    WOLFSSL_SUCCESS) {
		rv = ma_errorf(errmsg, MA_ERR_TLS, "cannot load CA file %s: %s",
		               ca_file, wolf_err());
		goto err_ctx;
	}
	wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, verify_cb);
	if (cert_file != NULL) {
		rv = load_identity(ctx, cert_file, key_file, 0, errmsg);
		if (rv != 0)
			goto err_ctx;
	}
	*out = ctx;
	return 0;

err_ctx:
	wolfSSL_CTX_free(ctx);
	return rv;
}

int tls_session_new(WOLFSSL **out, WOLFSSL_CTX *ctx,
                    ngtcp2_crypto_conn_ref *ref, const char *server_name,
                    char *errmsg)
{
	WOLFSSL *ssl = wolfSSL_new(ctx);

	*out = NULL;
	if (ssl == NULL)
		return ma_errorf(errmsg, MA_ERR_TLS, "wolfSSL_new: %s",
		                 wolf_err());
	wolfSSL_set_app_data(ssl, ref);
	if (server_name == NULL) {
		wolfSSL_set_accept_state(ssl);
		/* Belt and braces with the context's settings: never 0-RTT. */
		wolfSSL_set_quic_early_data_enabled(ssl, 0);
	} else {
		wolfSSL_set_connect_state(ssl);
		/* No SNI for an address (RFC 6066 3); wolfSSL matches the
		 * name against IP SANs as well as DNS names. */
		int literal = is_ip_literal(server_name);

		if (wolfSSL_set_alpn_protos(ssl, alpn_h3,
		                            sizeof(alpn_h3) - 1) != 0 ||
		    (!literal &&
		     wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, server_name,
		                    (unsigned short)strlen(server_name)) !=
		         WOLFSSL_SUCCESS) ||
		    wolfSSL_check_domain_name(ssl, server_name) !=
		        WOLFSSL_SUCCESS) {
			wolfSSL_free(ssl);
			return ma_errorf(errmsg, MA_ERR_TLS,
			                 "cannot set ALPN/SNI/name \"%s\": %s",
			                 server_name, wolf_err());
		}
	}
	*out = ssl;
	return 0;
}

/* Copies an identity candidate into out. Identities are what [access]
 * grants name (printable ASCII, config's CONFIG_IDENTITY_MAX): refuse
 * anything else rather than truncating or cleaning it into a different
 * identity, and so that it can be logged as it is. Returns 0, -1 (not
 * usable: empty, NUL, control or non-ASCII bytes) or MA_ERR_LIMIT (longer
 * than TLS_IDENTITY_MAX - 1 bytes). */
static int copy_asn1(WOLFSSL_ASN1_STRING *s, char *out)
{
	int n = s == NULL ? -1 : wolfSSL_ASN1_STRING_length(s);
	const unsigned char *p =
	    s == NULL ? NULL : wolfSSL_ASN1_STRING_get0_data(s);

	if (p == NULL || n <= 0)
		return -1;
	if (n >= TLS_IDENTITY_MAX)
		return MA_ERR_LIMIT;
	for (int i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return -1;
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	return 0;
}

/* A SAN DNS name or CN never contains ':'; refusing one that does keeps
 * them from standing for a URI identity (spiffe://...), so that the three
 * kinds cannot be confused in [access]. */
static int not_uri_like(int rv, const char *out)
{
	return rv == 0 && strchr(out, ':') != NULL ? -1 : rv;
}

int tls_peer_identity(WOLFSSL *ssl, char *out)
{
	WOLFSSL_X509 *x;
	int rv;

	out[0] = '\0';
	x = wolfSSL_get_peer_certificate(ssl);
	if (x == NULL)
		return MA_ERR_IDENTITY;
	rv = tls_cert_identity(x, out);
	wolfSSL_X509_free(x);
	return rv;
}

int tls_cert_identity(WOLFSSL_X509 *x, char *out)
{
	WOLFSSL_STACK *names;
	int rv = MA_ERR_IDENTITY;

	out[0] = '\0';
	names = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (names != NULL) {
		int want, i, n = wolfSSL_sk_GENERAL_NAME_num(names);

		/* URI first, then DNS: two passes keep the rule obvious. The
		 * first name of the kind decides: an unusable one is not
		 * skipped for the next, which would be another identity. */
		for (want = 0; want < 2 && rv == MA_ERR_IDENTITY; want++) {
			for (i = 0; i < n && rv == MA_ERR_IDENTITY; i++) {
				WOLFSSL_GENERAL_NAME *gn =
				    wolfSSL_sk_GENERAL_NAME_value(names, i);

				if (gn == NULL)
					continue;
				if (want == 0 && gn->type == SAN_URI)
					rv = copy_asn1(
					    gn->d.uniformResourceIdentifier,
					    out);
				else if (want == 1 && gn->type == SAN_DNS)
					rv = not_uri_like(
					    copy_asn1(gn->d.dNSName, out), out);
			}
		}
		wolfSSL_sk_GENERAL_NAME_pop_free(names,
		                                 wolfSSL_GENERAL_NAME_free);
	}
	if (rv == MA_ERR_IDENTITY) {
		WOLFSSL_X509_NAME *subj = wolfSSL_X509_get_subject_name(x);
		int idx = subj == NULL ? -1
		                       : wolfSSL_X509_NAME_get_index_by_NID(
		                             subj, NID_commonName, -1);
		WOLFSSL_X509_NAME_ENTRY *e =
		    idx < 0 ? NULL : wolfSSL_X509_NAME_get_entry(subj, idx);

		/* The entry's own bytes and length: NULs and overlong names
		 * are seen, not cut off by a C string copy. */
		if (e != NULL)
			rv = not_uri_like(
			    copy_asn1(wolfSSL_X509_NAME_ENTRY_get_data(e), out),
			    out);
	}
	if (rv != 0) {
		out[0] = '\0';
		if (rv != MA_ERR_LIMIT)
			rv = MA_ERR_IDENTITY;
	}
	return rv;
}

int tls_alpn_is_h3(WOLFSSL *ssl)
{
	char *name = NULL;
	unsigned short len = 0;

	if (wolfSSL_ALPN_GetProtocol(ssl, &name, &len) != WOLFSSL_SUCCESS)
		return 0;
	return len == 2 && memcmp(name, "h3", 2) == 0;
}

/* X509_V_ERR_* values wolfSSL reports as the verify result (OpenSSL
 * compatibility layer); spelled here to keep the compat headers out. */
enum {
	V_UNABLE_TO_GET_ISSUER = 2,
	V_NOT_YET_VALID = 9,
	V_HAS_EXPIRED = 10,
	V_SELF_SIGNED = 18,
	V_SELF_SIGNED_IN_CHAIN = 19,
	V_UNABLE_TO_GET_ISSUER_LOCALLY = 20,
	V_UNABLE_TO_VERIFY_LEAF = 21,
};

void tls_describe_failure(WOLFSSL *ssl, const char *expected_name, char *buf,
                          size_t len)
{
	long vr = wolfSSL_get_verify_result(ssl);
	int err = wolfSSL_get_error(ssl, 0);
	int server = wolfSSL_is_server(ssl);
	const char *whose = server ? "client" : "server";
	const char *names = seen.ssl == ssl ? seen.names : "";
	char ebuf[WOLFSSL_MAX_ERROR_SZ];
	long code = vr != 0 ? vr : err;

	if (seen.ssl == ssl && seen.error != 0 && vr == 0)
		code = seen.error;
	switch (code) {
	case ASN_VERSION_E:
		snprintf(buf, len,
		         "the %s certificate is X.509 version 1; version 3 is "
		         "required: reissue it as v3 with SAN and EKU %s (see "
		         "OPERATIONS.md)",
		         whose, server ? "clientAuth" : "serverAuth");
		return;
	case V_HAS_EXPIRED:
	case ASN_AFTER_DATE_E:
		snprintf(buf, len,
		         "the %s certificate%s%s%s has expired (valid until "
		         "%s): renew it, or check this host's clock",
		         whose, names[0] ? " (" : "", names,
		         names[0] ? ")" : "",
		         seen.ssl == ssl && seen.not_after[0] ? seen.not_after
		                                              : "a past date");
		return;
	case V_NOT_YET_VALID:
	case ASN_BEFORE_DATE_E:
		snprintf(
		    buf, len,
		    "the %s certificate%s%s%s is not valid yet (from %s): "
		    "check the clocks of both hosts",
		    whose, names[0] ? " (" : "", names, names[0] ? ")" : "",
		    seen.ssl == ssl && seen.not_before[0] ? seen.not_before
		                                          : "a later date");
		return;
	case V_UNABLE_TO_GET_ISSUER:
	case V_SELF_SIGNED:
	case V_SELF_SIGNED_IN_CHAIN:
	case V_UNABLE_TO_GET_ISSUER_LOCALLY:
	case V_UNABLE_TO_VERIFY_LEAF:
	case ASN_NO_SIGNER_E:
	case ASN_SELF_SIGNED_E:
		snprintf(buf, len,
		         "the %s certificate%s%s%s is not signed by a CA we "
		         "trust: check %s (the CA that signed it) on this side",
		         whose, names[0] ? " (" : "", names,
		         names[0] ? ")" : "",
		         server ? "client_ca_file" : "[tls] ca_file");
		return;
	case DOMAIN_NAME_MISMATCH:
	case IPADDR_MISMATCH:
		snprintf(
		    buf, len,
		    "server name mismatch: the server certificate names %s, "
		    "not \"%s\" that we asked for: set [tls] server_name to "
		    "one of its names, or reissue it with SAN %s:%s",
		    names[0] ? names : "other names",
		    expected_name != NULL ? expected_name : "?",
		    expected_name != NULL && is_ip_literal(expected_name)
		        ? "IP"
		        : "DNS",
		    expected_name != NULL ? expected_name : "<name>");
		return;
	case NO_PEER_CERT:
		snprintf(buf, len,
		         "the client sent no certificate: a mirror needs [tls] "
		         "cert_file and key_file");
		return;
	default:
		break;
	}
	if (vr != 0) {
		/* wolfSSL reports its own (negative) codes here, not X509_V_*
		 * values, so name them through its error table. */
		if (vr < 0)
			wolfSSL_ERR_error_string_n((unsigned long)vr, ebuf,
			                           sizeof ebuf);
		else
			snprintf(ebuf, sizeof ebuf, "%s",
			         wolfSSL_X509_verify_cert_error_string(vr));
		snprintf(buf, len,
		         "the %s certificate%s%s%s failed verification: %s "
		         "(%ld)",
		         whose, names[0] ? " (" : "", names,
		         names[0] ? ")" : "", ebuf, vr);
		return;
	}
	if (err == 0 || err == WOLFSSL_ERROR_WANT_READ) {
		snprintf(buf, len, "TLS handshake failed");
		return;
	}
	wolfSSL_ERR_error_string_n((unsigned long)err, ebuf, sizeof ebuf);
	snprintf(buf, len, "TLS handshake failed: %s (%d)", ebuf, err);
}

const char *tls_alert_describe(unsigned alert)
{
	switch (alert) {
	case 40:
		return "handshake_failure: no common TLS parameters";
	case 42:
		return "bad_certificate: our certificate was refused (is it "
		       "X.509 v3 with the right EKU, and does the key match "
		       "it?)";
	case 43:
		return "unsupported_certificate: our certificate's kind is "
		       "not accepted (X.509 v3 with the right EKU needed)";
	case 44:
		return "certificate_revoked: our certificate was revoked";
	case 45:
		return "certificate_expired: our certificate has expired or "
		       "is not yet valid: renew it, check the clocks";
	case 46:
		return "certificate_unknown: our certificate was refused (is "
		       "it X.509 v3, within its dates, with the right EKU?)";
	case 48:
		return "unknown_ca: the peer does not trust the CA that "
		       "signed our certificate (check the CA file it uses)";
	case 49:
		return "access_denied: the peer accepted our certificate "
		       "but cannot use its identity (over 255 bytes, not "
		       "printable ASCII, or a DNS name/CN with ':'; see the "
		       "peer's log)";
	case 51:
		return "decrypt_error: a handshake signature did not verify "
		       "(does our key match our certificate?)";
	case 70:
		return "protocol_version: the peer needs another TLS version "
		       "(TLS 1.3 only here)";
	case 80:
		return "internal_error: the peer failed internally (see its "
		       "log)";
	case 112:
		return "unrecognized_name: the peer does not serve the name "
		       "we asked for (check server_name)";
	case 116:
		return "certificate_required: the peer needs our client "
		       "certificate (set cert_file/key_file; a resumed "
		       "session carries none)";
	case 120:
		return "no_application_protocol: the peer does not speak "
		       "HTTP/3 (ALPN h3)";
	default:
		return NULL;
	}
}
