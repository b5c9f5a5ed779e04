# System tests: the mirror against the real reference cluster (raftkv on
# libraft) with nodes, leaders and mirrors killed; WAN conditions in network
# namespaces (root only, skips otherwise). Shell, TAP, bounded in time.
SYSTEM_TESTS = tests/system/test_cluster_failover.sh \
	tests/system/test_wan.sh \
	tests/system/test_lossy_link.sh \
	tests/system/test_dr_drill.sh \
	tests/system/test_preseed.sh
TESTS += $(SYSTEM_TESTS)
EXTRA_DIST += $(SYSTEM_TESTS) tests/integration/raftkv_lib.sh

# udp_impair: a userspace UDP relay adding delay, jitter, loss, reordering,
# duplication and a rate limit (netem without the kernel module), for
# test_lossy_link.sh. libc and libevent only.
check_PROGRAMS += tests/tools/udp_impair
tests_tools_udp_impair_SOURCES = tests/tools/udp_impair.c
tests_tools_udp_impair_LDADD = common/libcommon.a $(LIBEVENT_LIBS)
