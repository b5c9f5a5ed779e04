# Cross-module tests (integration, system, fuzz) register here.
EXTRA_DIST += tests/integration/lib.sh tests/certs/gen-certs.sh

# End-to-end tests of `serve` + `follow` over loopback QUIC (shell, TAP).
FOLLOW_TESTS = tests/integration/test_follow_bootstrap.sh \
	tests/integration/test_follow_faults.sh \
	tests/integration/test_follow_tls.sh \
	tests/integration/test_follow_badsource.sh
TESTS += $(FOLLOW_TESTS)
EXTRA_DIST += $(FOLLOW_TESTS)

# The shell helpers' own negative checks (assert_absent, assert_no_files).
TESTS += tests/integration/test_lib.sh
EXTRA_DIST += tests/integration/test_lib.sh

# The command line: --help everywhere, one range per flag and key, and
# serve/follow run from files made from etc/*.example.
TESTS += tests/integration/test_cli.sh
EXTRA_DIST += tests/integration/test_cli.sh
