/* serve's /metrics and /status renderings (agent/serve/serve_metrics.c)
 * over a fixed model: the exact text, every family and field, so that a
 * change of the rendering (e.g. making a scrape linear in the mirrors)
 * shows as a diff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/serve/serve_metrics.h"

static struct serve_database_stat dbs[2];
static struct serve_mirror_stat ms[4];

/* Two databases; mirrors: a log stream over IPv4 with a retention
 * headroom, one over IPv6 with a '"' in its identity, a snapshot stream
 * of unknown address, and a log stream whose database is out of range. */
static void model(struct serve_metrics_model *md)
{
	struct sockaddr_in *a4;
	struct sockaddr_in6 *a6;

	memset(dbs, 0, sizeof dbs);
	memset(ms, 0, sizeof ms);
	dbs[0] = (struct serve_database_stat){"kv", true, 1500, 1001, 1};
	dbs[1] = (struct serve_database_stat){"other", false, 0, 0, 1};

	ms[0].identity = "mirror-1";
	ms[0].database = "kv";
	ms[0].database_index = 0;
	a4 = (struct sockaddr_in *)&ms[0].addr;
	a4->sin_family = AF_INET;
	a4->sin_port = htons(40000);
	a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ms[0].addrlen = sizeof *a4;
	ms[0].age_ms = 12345;
	ms[0].contact_age_ms = 250;
	ms[0].bytes_sent = 9000;
	ms[0].unacked = 100;
	ms[0].requested_from = 1001;
	ms[0].sent_index = 1400;
	ms[0].reservation_index = 1000;
	ms[0].has_headroom = true;
	ms[0].headroom_s = 3600;

	ms[1].identity = "m\"2";
	ms[1].database = "other";
	ms[1].database_index = 1;
	a6 = (struct sockaddr_in6 *)&ms[1].addr;
	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons(40001);
	a6->sin6_addr = in6addr_loopback;
	ms[1].addrlen = sizeof *a6;
	ms[1].age_ms = 1000;
	ms[1].requested_from = 1;

	ms[2].identity = "mirror-3";
	ms[2].database = "kv";
	ms[2].snapshot = true;
	ms[2].age_ms = 500;
	ms[2].contact_age_ms = 499;
	ms[2].bytes_sent = 1048576;
	ms[2].unacked = 65536;
	ms[2].snapshot_index = 1000;
	ms[2].snapshot_size = 2097152;

	ms[3].identity = "mirror-4";
	ms[3].database = "gone";
	ms[3].database_index = 7;
	a4 = (struct sockaddr_in *)&ms[3].addr;
	a4->sin_family = AF_INET;
	a4->sin_port = htons(1);
	a4->sin_addr.s_addr = htonl(0x0a000005);
	ms[3].addrlen = sizeof *a4;
	ms[3].sent_index = 5;

	memset(md, 0, sizeof *md);
	md->port = 4433;
	md->connections = 3;
	md->handshakes = 1;
	md->tls_reloads = 2;
	md->conn = (struct transport_server_refusals){1, 2, 3, 4, 5, 6};
	md->req = (struct serve_refused){7, 8, 9, 10};
	md->dbs = dbs;
	md->ndbs = 2;
	md->mirrors = ms;
	md->nmirrors = 4;
	md->index_hits = 11;
	md->index_misses = 12;
}

static const char want_prometheus[] =
    "# HELP mirror_serve_connections QUIC connections open (handsha"
    "king or established).\n"
    "# TYPE mirror_serve_connections gauge\n"
    "mirror_serve_connections 3\n"
    "# HELP mirror_serve_handshakes QUIC handshakes in progress.\n"
    "# TYPE mirror_serve_handshakes gauge\n"
    "mirror_serve_handshakes 1\n"
    "# HELP mirror_serve_tls_reloads_total Certificate reloads appl"
    "ied (SIGHUP).\n"
    "# TYPE mirror_serve_tls_reloads_total counter\n"
    "mirror_serve_tls_reloads_total 2\n"
    "# HELP mirror_serve_refused_connections_total Connections refu"
    "sed or failed before they were established, by reason.\n"
    "# TYPE mirror_serve_refused_connections_total counter\n"
    "mirror_serve_refused_connections_total{reason=\"max_connection"
    "s\"} 1\n"
    "mirror_serve_refused_connections_total{reason=\"max_handshakes"
    "\"} 2\n"
    "mirror_serve_refused_connections_total{reason=\"max_handshakes"
    "_per_address\"} 3\n"
    "mirror_serve_refused_connections_total{reason=\"invalid_token"
    "\"} 4\n"
    "mirror_serve_refused_connections_total{reason=\"tls\"} 5\n"
    "mirror_serve_refused_connections_total{reason=\"handshake_fail"
    "ed\"} 6\n"
    "# HELP mirror_serve_refused_requests_total Requests refused, b"
    "y reason.\n"
    "# TYPE mirror_serve_refused_requests_total counter\n"
    "mirror_serve_refused_requests_total{reason=\"bad_request\"} 7"
    "\n"
    "mirror_serve_refused_requests_total{reason=\"forbidden\"} 8\n"
    "mirror_serve_refused_requests_total{reason=\"not_found\"} 9\n"
    "mirror_serve_refused_requests_total{reason=\"identity_limit\"}"
    " 10\n"
    "# HELP mirror_serve_commit_index Last index in the spool's log"
    ".\n"
    "# TYPE mirror_serve_commit_index gauge\n"
    "mirror_serve_commit_index{database=\"kv\"} 1500\n"
    "mirror_serve_commit_index{database=\"other\"} 0\n"
    "# HELP mirror_serve_first_index First index retained in the sp"
    "ool's log.\n"
    "# TYPE mirror_serve_first_index gauge\n"
    "mirror_serve_first_index{database=\"kv\"} 1001\n"
    "mirror_serve_first_index{database=\"other\"} 0\n"
    "# HELP mirror_serve_log_streams Open log streams.\n"
    "# TYPE mirror_serve_log_streams gauge\n"
    "mirror_serve_log_streams{database=\"kv\"} 1\n"
    "mirror_serve_log_streams{database=\"other\"} 1\n"
    "# HELP mirror_serve_mirror_requested_index Index the mirror's "
    "log request started from.\n"
    "# TYPE mirror_serve_mirror_requested_index gauge\n"
    "mirror_serve_mirror_requested_index{identity=\"mirror-1\",data"
    "base=\"kv\",address=\"127.0.0.1:40000\"} 1001\n"
    "mirror_serve_mirror_requested_index{identity=\"m\\\"2\",databa"
    "se=\"other\",address=\"[::1]:40001\"} 1\n"
    "mirror_serve_mirror_requested_index{identity=\"mirror-4\",data"
    "base=\"gone\",address=\"10.0.0.5:1\"} 0\n"
    "# HELP mirror_serve_mirror_sent_index Last log index sent to t"
    "he mirror.\n"
    "# TYPE mirror_serve_mirror_sent_index gauge\n"
    "mirror_serve_mirror_sent_index{identity=\"mirror-1\",database="
    "\"kv\",address=\"127.0.0.1:40000\"} 1400\n"
    "mirror_serve_mirror_sent_index{identity=\"m\\\"2\",database=\""
    "other\",address=\"[::1]:40001\"} 0\n"
    "mirror_serve_mirror_sent_index{identity=\"mirror-4\",database="
    "\"gone\",address=\"10.0.0.5:1\"} 5\n"
    "# HELP mirror_serve_mirror_lag_entries Commit index minus the "
    "last index sent to the mirror.\n"
    "# TYPE mirror_serve_mirror_lag_entries gauge\n"
    "mirror_serve_mirror_lag_entries{identity=\"mirror-1\",database"
    "=\"kv\",address=\"127.0.0.1:40000\"} 100\n"
    "mirror_serve_mirror_lag_entries{identity=\"m\\\"2\",database="
    "\"other\",address=\"[::1]:40001\"} 0\n"
    "mirror_serve_mirror_lag_entries{identity=\"mirror-4\",database"
    "=\"gone\",address=\"10.0.0.5:1\"} 0\n"
    "# HELP mirror_serve_mirror_last_contact_seconds Seconds since "
    "the mirror last acknowledged data of its log stream.\n"
    "# TYPE mirror_serve_mirror_last_contact_seconds gauge\n"
    "mirror_serve_mirror_last_contact_seconds{identity=\"mirror-1\""
    ",database=\"kv\",address=\"127.0.0.1:40000\"} 0.250\n"
    "mirror_serve_mirror_last_contact_seconds{identity=\"m\\\"2\",d"
    "atabase=\"other\",address=\"[::1]:40001\"} 0.000\n"
    "mirror_serve_mirror_last_contact_seconds{identity=\"mirror-4\""
    ",database=\"gone\",address=\"10.0.0.5:1\"} 0.000\n"
    "# HELP mirror_serve_mirror_reservation_index Index the mirror'"
    "s retention reservation holds.\n"
    "# TYPE mirror_serve_mirror_reservation_index gauge\n"
    "mirror_serve_mirror_reservation_index{identity=\"mirror-1\",da"
    "tabase=\"kv\",address=\"127.0.0.1:40000\"} 1000\n"
    "mirror_serve_mirror_reservation_index{identity=\"m\\\"2\",data"
    "base=\"other\",address=\"[::1]:40001\"} 0\n"
    "mirror_serve_mirror_reservation_index{identity=\"mirror-4\",da"
    "tabase=\"gone\",address=\"10.0.0.5:1\"} 0\n"
    "# HELP mirror_serve_mirror_unacked_bytes Bytes of the log stre"
    "am sent and not yet acknowledged.\n"
    "# TYPE mirror_serve_mirror_unacked_bytes gauge\n"
    "mirror_serve_mirror_unacked_bytes{identity=\"mirror-1\",databa"
    "se=\"kv\",address=\"127.0.0.1:40000\"} 100\n"
    "mirror_serve_mirror_unacked_bytes{identity=\"m\\\"2\",database"
    "=\"other\",address=\"[::1]:40001\"} 0\n"
    "mirror_serve_mirror_unacked_bytes{identity=\"mirror-4\",databa"
    "se=\"gone\",address=\"10.0.0.5:1\"} 0\n"
    "# HELP mirror_serve_mirror_stream_age_seconds Seconds since th"
    "e mirror's log request arrived.\n"
    "# TYPE mirror_serve_mirror_stream_age_seconds gauge\n"
    "mirror_serve_mirror_stream_age_seconds{identity=\"mirror-1\",d"
    "atabase=\"kv\",address=\"127.0.0.1:40000\"} 12.345\n"
    "mirror_serve_mirror_stream_age_seconds{identity=\"m\\\"2\",dat"
    "abase=\"other\",address=\"[::1]:40001\"} 1.000\n"
    "mirror_serve_mirror_stream_age_seconds{identity=\"mirror-4\",d"
    "atabase=\"gone\",address=\"10.0.0.5:1\"} 0.000\n"
    "# HELP mirror_serve_snapshot_stream_index Snapshot index being"
    " sent to a mirror.\n"
    "# TYPE mirror_serve_snapshot_stream_index gauge\n"
    "mirror_serve_snapshot_stream_index{identity=\"mirror-3\",datab"
    "ase=\"kv\",address=\"unknown\"} 1000\n"
    "# HELP mirror_serve_wal_index_loads_total Loads of sealed wal "
    "segments by readers: from the index cache (hit) or by reading "
    "the whole segment (miss).\n"
    "# TYPE mirror_serve_wal_index_loads_total counter\n"
    "mirror_serve_wal_index_loads_total{result=\"hit\"} 11\n"
    "mirror_serve_wal_index_loads_total{result=\"miss\"} 12\n";

static const char want_json[] =
    "{\"port\":4433,\"connections\":3,\"handshakes\":1,\"tls_reload"
    "s\":2,\"databases\":[{\"name\":\"kv\",\"commit_index\":1500,\""
    "first_index\":1001,\"log_streams\":1,\"log_readable\":true},{"
    "\"name\":\"other\",\"commit_index\":0,\"first_index\":0,\"log_"
    "streams\":1,\"log_readable\":false}],\"mirrors\":[{\"identity"
    "\":\"mirror-1\",\"database\":\"kv\",\"address\":\"127.0.0.1:40"
    "000\",\"stream\":\"log\",\"age_s\":12.345,\"last_contact_s\":0"
    ".250,\"bytes_sent\":9000,\"unacked_bytes\":100,\"requested_fro"
    "m\":1001,\"sent_index\":1400,\"commit_index\":1500,\"lag_entri"
    "es\":100,\"reservation_index\":1000,\"retention_headroom_s\":3"
    "600},{\"identity\":\"m\\\"2\",\"database\":\"other\",\"address"
    "\":\"[::1]:40001\",\"stream\":\"log\",\"age_s\":1.000,\"last_c"
    "ontact_s\":0.000,\"bytes_sent\":0,\"unacked_bytes\":0,\"reques"
    "ted_from\":1,\"sent_index\":0,\"commit_index\":0,\"lag_entries"
    "\":0,\"reservation_index\":0,\"retention_headroom_s\":null},{"
    "\"identity\":\"mirror-3\",\"database\":\"kv\",\"address\":\"un"
    "known\",\"stream\":\"snapshot\",\"age_s\":0.500,\"last_contact"
    "_s\":0.499,\"bytes_sent\":1048576,\"unacked_bytes\":65536,\"sn"
    "apshot_index\":1000,\"snapshot_size\":2097152},{\"identity\":"
    "\"mirror-4\",\"database\":\"gone\",\"address\":\"10.0.0.5:1\","
    "\"stream\":\"log\",\"age_s\":0.000,\"last_contact_s\":0.000,\""
    "bytes_sent\":0,\"unacked_bytes\":0,\"requested_from\":0,\"sent"
    "_index\":5,\"commit_index\":0,\"lag_entries\":0,\"reservation_"
    "index\":0,\"retention_headroom_s\":null}],\"refused_connection"
    "s\":{\"max_connections\":1,\"max_handshakes\":2,\"max_handshak"
    "es_per_address\":3,\"invalid_token\":4,\"tls\":5,\"handshake_f"
    "ailed\":6},\"refused_requests\":{\"bad_request\":7,\"forbidden"
    "\":8,\"not_found\":9,\"identity_limit\":10}}\n";

static void test_prometheus_exact(void **state)
{
	struct serve_metrics_model md;
	size_t len = 0;
	char *text;

	(void)state;
	model(&md);
	text = serve_metrics_model_prometheus(&md, NULL, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_string_equal(text, want_prometheus);
	free(text);
}

static void test_json_exact(void **state)
{
	struct serve_metrics_model md;
	size_t len = 0;
	char *text;

	(void)state;
	model(&md);
	text = serve_metrics_model_json(&md, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_string_equal(text, want_json);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prometheus_exact),
	    cmocka_unit_test(test_json_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
