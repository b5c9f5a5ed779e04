# Tests of serve's sans-I/O cores (agent/serve/serve_{request,log,snapshot}).
check_PROGRAMS += tests/unit/test_serve_request tests/unit/test_serve_log \
	tests/unit/test_serve_snapshot
TESTS += tests/unit/test_serve_request tests/unit/test_serve_log \
	tests/unit/test_serve_snapshot
tests_unit_test_serve_request_SOURCES = tests/unit/test_serve_request.c
tests_unit_test_serve_request_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_serve_request_LDADD = $(AGENT_TEST_LIBS)
tests_unit_test_serve_log_SOURCES = tests/unit/test_serve_log.c
tests_unit_test_serve_log_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_serve_log_LDADD = $(FIXTURE_LIBS) $(AGENT_TEST_LIBS)
tests_unit_test_serve_snapshot_SOURCES = tests/unit/test_serve_snapshot.c
tests_unit_test_serve_snapshot_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_serve_snapshot_LDADD = $(FIXTURE_LIBS) $(AGENT_TEST_LIBS)

EXTRA_DIST += tests/fuzz/corpus/serve_request

if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_serve_request
FUZZ_TARGETS += tests/fuzz/fuzz_serve_request
tests_fuzz_fuzz_serve_request_SOURCES = tests/fuzz/fuzz_serve_request.c
tests_fuzz_fuzz_serve_request_LDADD = agent/libagent.a common/libcommon.a \
	$(DEPS_LIBS)
tests_fuzz_fuzz_serve_request_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
endif

# The sealed wal segments are indexed off the loop at start-up.
TESTS += tests/integration/test_serve_warm.sh
EXTRA_DIST += tests/integration/test_serve_warm.sh
# SIGHUP reloads [access] without dropping mirrors (real processes).
TESTS += tests/integration/test_serve_reload.sh
EXTRA_DIST += tests/integration/test_serve_reload.sh
# SIGHUP reloads the certificates without dropping mirrors; refused sets.
TESTS += tests/integration/test_serve_cert_reload.sh
EXTRA_DIST += tests/integration/test_serve_cert_reload.sh
# follow: SIGHUP re-reads the client certificate; a refused set keeps the
# last good one for the next connections.
TESTS += tests/integration/test_follow_cert_reload.sh
EXTRA_DIST += tests/integration/test_follow_cert_reload.sh

# check-config's certificate checks, with bad certificates made by openssl.
TESTS += tests/integration/test_check_config_certs.sh
EXTRA_DIST += tests/integration/test_check_config_certs.sh

# The read API under descriptor exhaustion (issue 9's edges).
TESTS += tests/integration/test_read_api_emfile.sh
EXTRA_DIST += tests/integration/test_read_api_emfile.sh

# Retention reservations: the file, the retention rule, serve's record and
# report (spool/spool_reserve.c, agent/serve/serve_reserve.c).
check_PROGRAMS += tests/unit/test_reserve
TESTS += tests/unit/test_reserve
tests_unit_test_reserve_SOURCES = tests/unit/test_reserve.c
tests_unit_test_reserve_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_reserve_LDADD = $(AGENT_TEST_LIBS)
# Reservations with real processes: a mirror away past the trailing margin
# resumes without a snapshot; away past the budget it re-bootstraps once.
TESTS += tests/integration/test_retention_reserve.sh
EXTRA_DIST += tests/integration/test_retention_reserve.sh

# serve's /metrics and /status renderings over a fixed model: exact text.
check_PROGRAMS += tests/unit/test_serve_metrics
TESTS += tests/unit/test_serve_metrics
tests_unit_test_serve_metrics_SOURCES = tests/unit/test_serve_metrics.c
tests_unit_test_serve_metrics_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_serve_metrics_LDADD = $(AGENT_TEST_LIBS)
