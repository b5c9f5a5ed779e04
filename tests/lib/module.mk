# tests/lib: C fixtures shared by unit and simulation tests (scratch dirs,
# seeded PRNG, in-process spool builder). Link FIXTURE_LIBS before
# $(AGENT_TEST_LIBS).
check_LIBRARIES = tests/lib/libfixture.a
tests_lib_libfixture_a_SOURCES = tests/lib/fixture.c tests/lib/fixture.h \
	tests/lib/fx_endpoint.c tests/lib/fx_transport.c tests/lib/fx_scratch.c
# fx_transport.c makes the transport tests' PKI with tests/certs/gen-certs.sh.
tests_lib_libfixture_a_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMA_TOP_SRCDIR='"$(abs_top_srcdir)"'
FIXTURE_LIBS = tests/lib/libfixture.a
