# System tests: the mirror against the real reference cluster (raftkv on
# libraft) with nodes, leaders and mirrors killed; WAN conditions in network
# namespaces (root only, skips otherwise). Shell, TAP, bounded in time.
SYSTEM_TESTS = tests/system/test_cluster_failover.sh \
	tests/system/test_linkemu.sh \
	tests/system/test_wan.sh \
	tests/system/test_lossy_link.sh \
	tests/system/test_dr_drill.sh \
	tests/system/test_preseed.sh \
	tests/system/test_stale_source.sh \
	tests/system/test_soak.sh \
	tests/system/test_cascade.sh \
	tests/system/test_refresh.sh \
	tests/system/test_interop.sh
TESTS += $(SYSTEM_TESTS)
EXTRA_DIST += $(SYSTEM_TESTS) tests/integration/raftkv_lib.sh

# linkemu: two network namespaces joined through TUN devices by a userspace
# relay of IP packets (delay, jitter, loss, bursts, corruption, rate with a
# bounded queue, blackholes, NAT rebinding), so TCP and QUIC cross the same
# emulated link; tests/tools/linkemu.sh sets it up. tcpblast times a TCP
# transfer and udpprobe numbers UDP datagrams
# and echoes them for its fidelity test. libc only.
check_PROGRAMS += tests/tools/linkemu tests/tools/tcpblast tests/tools/udpprobe
tests_tools_linkemu_SOURCES = tests/tools/linkemu.c
tests_tools_linkemu_LDADD = common/libcommon.a
tests_tools_tcpblast_SOURCES = tests/tools/tcpblast.c
tests_tools_tcpblast_LDADD = $(FIXTURE_LIBS) common/libcommon.a
tests_tools_udpprobe_SOURCES = tests/tools/udpprobe.c
tests_tools_udpprobe_LDADD = $(FIXTURE_LIBS) common/libcommon.a
EXTRA_DIST += tests/tools/linkemu.sh
