/* transport: wolfSSL contexts for QUIC (through ngtcp2's crypto helper),
 * mutual TLS and extraction of the peer identity. */
#include "transport/transport_tls.h"

#include <stdio.h>
#include <string.h>

#include <wolfssl/options.h>

#include <wolfssl/quic.h>
#include <wolfssl/ssl.h>

#include <ngtcp2/ngtcp2_crypto_wolfssl.h>

#include "common/errors.h"

static const unsigned char alpn_h3[] = "\x02h3";

/* GeneralName choice tags (RFC 5280 4.2.1.6), the values wolfSSL stores in
 * WOLFSSL_GENERAL_NAME.type; spelled here to avoid the OpenSSL-compat
 * headers. */
enum { SAN_DNS = 2, SAN_URI = 6 };

static const char *wolf_err(void)
{
	static char buf[WOLFSSL_MAX_ERROR_SZ];
	unsigned long e = wolfSSL_ERR_get_error();

	if (e == 0)
		return "no further detail";
	return wolfSSL_ERR_error_string(e, buf);
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

static int load_identity(WOLFSSL_CTX *ctx, const char *cert_file,
                         const char *key_file, char *errmsg)
{
	if (wolfSSL_CTX_use_certificate_chain_file(ctx, cert_file) !=
	    WOLFSSL_SUCCESS)
		return ma_errorf(errmsg, MA_ERR_TLS,
		                 "cannot load certificate chain %s: %s "
		                 "(expect PEM)",
		                 cert_file, wolf_err());
	if (wolfSSL_CTX_use_PrivateKey_file(
	        ctx, key_file, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)
		return ma_errorf(errmsg, MA_ERR_TLS,
		                 "cannot load private key %s: %s (expect PEM)",
		                 key_file, wolf_err());
	if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS)
		return ma_errorf(errmsg, MA_ERR_TLS,
		                 "private key %s does not match certificate %s",
		                 key_file, cert_file);
	return 0;
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
	rv = load_identity(ctx, cert_file, key_file, errmsg);
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
	    NULL);
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
	wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
	if (cert_file != NULL) {
		rv = load_identity(ctx, cert_file, key_file, errmsg);
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
		if (wolfSSL_set_alpn_protos(ssl, alpn_h3,
		                            sizeof(alpn_h3) - 1) != 0 ||
		    wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, server_name,
		                   (unsigned short)strlen(server_name)) !=
		        WOLFSSL_SUCCESS ||
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

void tls_describe_failure(WOLFSSL *ssl, char *buf, size_t len)
{
	long vr = wolfSSL_get_verify_result(ssl);
	int err = wolfSSL_get_error(ssl, 0);
	char ebuf[WOLFSSL_MAX_ERROR_SZ];

	if (vr != 0) {
		/* wolfSSL reports its own (negative) codes here, not X509_V_*
		 * values, so name them through its error table. */
		if (vr < 0)
			wolfSSL_ERR_error_string_n((unsigned long)vr, ebuf,
			                           sizeof ebuf);
		else if (vr == 20 || vr == 21) /* X509_V_ERR_UNABLE_TO_* */
			snprintf(ebuf, sizeof ebuf,
			         "issuer not trusted (signed by another CA?)");
		else
			snprintf(ebuf, sizeof ebuf, "%s",
			         wolfSSL_X509_verify_cert_error_string(vr));
		snprintf(buf, len,
		         "peer certificate verification failed: %s (%ld)", ebuf,
		         vr);
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
		       "X.509 v3 with EKU clientAuth, and does the key match "
		       "it?)";
	case 43:
		return "unsupported_certificate: our certificate's kind is "
		       "not accepted (X.509 v3 with EKU clientAuth needed)";
	case 44:
		return "certificate_revoked: our certificate was revoked";
	case 45:
		return "certificate_expired: our certificate has expired or "
		       "is not yet valid: renew it, check the clocks";
	case 46:
		return "certificate_unknown: our certificate was refused (is "
		       "it X.509 v3, within its dates, EKU clientAuth?)";
	case 48:
		return "unknown_ca: the peer does not trust the CA that "
		       "signed our certificate (check its client_ca_file)";
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
