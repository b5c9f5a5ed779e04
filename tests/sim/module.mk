# tests/sim: the deterministic simulation of serve's and follow's cores
# (see tests/sim/sim.h). Part of `make check`.
check_PROGRAMS += tests/sim/test_sim
TESTS += tests/sim/test_sim
tests_sim_test_sim_SOURCES = tests/sim/test_sim.c tests/sim/sim.c \
	tests/sim/sim.h tests/sim/sim_source.c tests/sim/sim_source.h
tests_sim_test_sim_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_sim_test_sim_LDADD = $(FIXTURE_LIBS) $(AGENT_TEST_LIBS)

# Promote in the simulation: fencing of a promoted mirror both ways.
check_PROGRAMS += tests/sim/test_sim_promote
TESTS += tests/sim/test_sim_promote
tests_sim_test_sim_promote_SOURCES = tests/sim/test_sim_promote.c \
	tests/sim/sim.c tests/sim/sim.h tests/sim/sim_source.c \
	tests/sim/sim_source.h
tests_sim_test_sim_promote_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_sim_test_sim_promote_LDADD = $(FIXTURE_LIBS) $(AGENT_TEST_LIBS)

# Background snapshot refresh of a none mirror (follow_refresh.h): the
# fetch beside the log, paced, resumed, installed before the trim,
# retried with a capped backoff.
check_PROGRAMS += tests/sim/test_sim_refresh
TESTS += tests/sim/test_sim_refresh
tests_sim_test_sim_refresh_SOURCES = tests/sim/test_sim_refresh.c \
	tests/sim/sim.c tests/sim/sim.h tests/sim/sim_source.c \
	tests/sim/sim_source.h
tests_sim_test_sim_refresh_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_sim_test_sim_refresh_LDADD = $(FIXTURE_LIBS) $(AGENT_TEST_LIBS)
