# transport: QUIC (ngtcp2 + wolfSSL) and HTTP/3 (nghttp3) on libevent.
transport_libtransport_a_SOURCES += \
	transport/transport.h transport/transport_int.h \
	transport/transport_tls.c transport/transport_tls.h \
	transport/transport_cert.c transport/transport_cert.h \
	transport/transport_udp.c transport/transport_h3.c \
	transport/transport_server.c transport/transport_client.c

TRANSPORT_TEST_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMA_TOP_SRCDIR='"$(abs_top_srcdir)"'
TRANSPORT_TEST_LIBS = $(FIXTURE_LIBS) transport/libtransport.a $(TEST_LIBS)
EXTRA_DIST += tests/certs/gen-certs.sh \
	tests/integration/test_transport_util.h

check_PROGRAMS += tests/integration/test_quic_handshake
TESTS += tests/integration/test_quic_handshake
tests_integration_test_quic_handshake_SOURCES = \
	tests/integration/test_quic_handshake.c
tests_integration_test_quic_handshake_CPPFLAGS = $(TRANSPORT_TEST_CPPFLAGS)
tests_integration_test_quic_handshake_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_integration_test_quic_handshake_LDADD = $(TRANSPORT_TEST_LIBS)

check_PROGRAMS += tests/integration/test_transport
TESTS += tests/integration/test_transport
tests_integration_test_transport_SOURCES = tests/integration/test_transport.c
tests_integration_test_transport_CPPFLAGS = $(TRANSPORT_TEST_CPPFLAGS)
tests_integration_test_transport_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_integration_test_transport_LDADD = $(TRANSPORT_TEST_LIBS)

check_PROGRAMS += tests/integration/test_transport_limits
TESTS += tests/integration/test_transport_limits
tests_integration_test_transport_limits_SOURCES = \
	tests/integration/test_transport_limits.c
tests_integration_test_transport_limits_CPPFLAGS = $(TRANSPORT_TEST_CPPFLAGS)
tests_integration_test_transport_limits_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_integration_test_transport_limits_LDADD = $(TRANSPORT_TEST_LIBS)

check_PROGRAMS += tests/integration/test_transport_migration
TESTS += tests/integration/test_transport_migration
tests_integration_test_transport_migration_SOURCES = \
	tests/integration/test_transport_migration.c
tests_integration_test_transport_migration_CPPFLAGS = $(TRANSPORT_TEST_CPPFLAGS)
tests_integration_test_transport_migration_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_integration_test_transport_migration_LDADD = $(TRANSPORT_TEST_LIBS)

check_PROGRAMS += tests/integration/test_transport_udp
TESTS += tests/integration/test_transport_udp
tests_integration_test_transport_udp_SOURCES = \
	tests/integration/test_transport_udp.c
tests_integration_test_transport_udp_CPPFLAGS = $(TRANSPORT_TEST_CPPFLAGS)
tests_integration_test_transport_udp_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_integration_test_transport_udp_LDADD = $(TRANSPORT_TEST_LIBS)
