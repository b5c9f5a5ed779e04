/* transport internals: wolfSSL contexts for QUIC, mutual TLS and peer
 * identity. Shared by transport_server.c, transport_client.c and the
 * handshake test; not part of the module API (see transport.h). */
#ifndef MIRROR_TRANSPORT_TLS_H
#define MIRROR_TRANSPORT_TLS_H

#include <stddef.h>

#include <wolfssl/options.h>

#include <wolfssl/ssl.h>

#include <ngtcp2/ngtcp2_crypto.h>

/* Longest identity string reported for a peer (bytes, with the NUL): the
 * longest identity an [access] grant can name (CONFIG_IDENTITY_MAX 255)
 * plus one. */
#define TLS_IDENTITY_MAX 256

/* Creates a TLS 1.3-only QUIC server context: ALPN "h3" (anything else is
 * refused with no_application_protocol), certificate chain and key from
 * PEM files, and mandatory client certificates verified against the PEM CA
 * file client_ca (a client without a certificate or with one from another
 * CA fails the handshake). 0-RTT stays off.
 * Returns 0 or MA_ERR_TLS (errmsg names the file and the wolfSSL error). */
int tls_server_ctx_new(WOLFSSL_CTX **out, const char *cert_file,
                       const char *key_file, const char *client_ca_file,
                       char *errmsg);

/* Creates a TLS 1.3-only QUIC client context that verifies the server
 * against ca_file only (never the system store) and presents cert/key
 * (both may be NULL: no client certificate). Returns 0 or MA_ERR_TLS. */
int tls_client_ctx_new(WOLFSSL_CTX **out, const char *ca_file,
                       const char *cert_file, const char *key_file,
                       char *errmsg);

/* Creates the per-connection session. server_name non-NULL makes a client
 * session: it is sent as SNI and the server certificate must match it
 * (SAN DNS, or CN when there is no SAN). ref is what ngtcp2's crypto
 * helper finds through wolfSSL_get_app_data(). Returns 0 or MA_ERR_TLS. */
int tls_session_new(WOLFSSL **out, WOLFSSL_CTX *ctx,
                    ngtcp2_crypto_conn_ref *ref, const char *server_name,
                    char *errmsg);

/* Writes the verified peer's identity into out (TLS_IDENTITY_MAX bytes):
 * the first SAN URI, else the first SAN DNS name, else the subject CN,
 * whole (never truncated). It must be printable ASCII; a DNS name or CN
 * must not contain ':' (only a URI identity has a scheme). Returns 0,
 * MA_ERR_LIMIT when it is longer than TLS_IDENTITY_MAX - 1 bytes, or
 * MA_ERR_IDENTITY when the peer has no certificate or no usable name (out
 * is then ""). */
int tls_peer_identity(WOLFSSL *ssl, char *out);
/* The same rule for a certificate x (the caller keeps it): what
 * tls_peer_identity gives a peer presenting x (check-config prints it). */
int tls_cert_identity(WOLFSSL_X509 *x, char *out);
/* Returns 1 when priv is the private key of pub: a signature made with
 * priv verifies with pub (wolfSSL's own check_private_key accepts another
 * key of the same curve). 0 otherwise, or when either is NULL. */
int tls_key_pair_matches(WOLFSSL_EVP_PKEY *priv, WOLFSSL_EVP_PKEY *pub);

/* Returns 1 when the negotiated ALPN is "h3", else 0. */
int tls_alpn_is_h3(WOLFSSL *ssl);

/* Describes why a handshake failed and what to do, from wolfSSL's verify
 * result, its last error and what the verify callback saw of the peer's
 * certificate (names, dates), into buf (always NUL-terminated): X.509
 * version 1, expired or not yet valid, not signed by a trusted CA, a
 * name mismatch naming expected_name (client side; NULL on the server)
 * and the names presented, no client certificate. */
void tls_describe_failure(WOLFSSL *ssl, const char *expected_name, char *buf,
                          size_t len);

/* Describes the peer's certificate as "serial HEX, subject /.../" into
 * buf (HEX upper-case as `openssl x509 -noout -serial` prints it), or
 * "no certificate". Always NUL-terminates. */
void tls_peer_cert_describe(WOLFSSL *ssl, char *buf, size_t len);

/* 1 when our own certificate on ssl is X.509 version 1. */
int tls_own_cert_is_v1(WOLFSSL *ssl);

/* What a TLS alert (RFC 8446 6) received from the peer means for us and
 * what to check, or NULL for an alert without advice. */
const char *tls_alert_describe(unsigned alert);

#endif
