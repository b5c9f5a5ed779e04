# System tests: the mirror against the real reference cluster (raftkv on
# libraft) with nodes, leaders and mirrors killed; WAN conditions in network
# namespaces (root only, skips otherwise). Shell, TAP, bounded in time.
SYSTEM_TESTS = tests/system/test_cluster_failover.sh \
	tests/system/test_wan.sh
TESTS += $(SYSTEM_TESTS)
EXTRA_DIST += $(SYSTEM_TESTS)
