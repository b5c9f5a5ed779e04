# tests/lib: C fixtures shared by unit and simulation tests (scratch dirs,
# seeded PRNG, in-process spool builder). Link FIXTURE_LIBS before
# $(AGENT_TEST_LIBS).
check_LIBRARIES = tests/lib/libfixture.a
tests_lib_libfixture_a_SOURCES = tests/lib/fixture.c tests/lib/fixture.h \
	tests/lib/fx_endpoint.c
FIXTURE_LIBS = tests/lib/libfixture.a
