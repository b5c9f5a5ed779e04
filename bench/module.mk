# bench: filled in by its module
noinst_PROGRAMS += bench/bench_receiver
bench_bench_receiver_SOURCES = bench/bench_receiver.c
bench_bench_receiver_LDADD = proto/libproto.a snapshot/libsnapshot.a \
	common/libcommon.a \
	$(DEPS_LIBS) -lpthread
noinst_PROGRAMS += bench/bench_wal
bench_bench_wal_SOURCES = bench/bench_wal.c
bench_bench_wal_LDADD = wal/libwal.a common/libcommon.a $(DEPS_LIBS) -lpthread
# bench_wal_seek: a log request at the far end of a sealed 64 MiB segment,
# index cache cold against warm.
noinst_PROGRAMS += bench/bench_wal_seek
bench_bench_wal_seek_SOURCES = bench/bench_wal_seek.c
bench_bench_wal_seek_LDADD = wal/libwal.a common/libcommon.a $(DEPS_LIBS) \
	-lpthread
# bench_transport: HTTP/3 transfer between two processes vs TLS 1.3/TCP.
noinst_PROGRAMS += bench/bench_transport
bench_bench_transport_SOURCES = bench/bench_transport.c
bench_bench_transport_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMA_TOP_SRCDIR='"$(abs_top_srcdir)"'
bench_bench_transport_LDADD = transport/libtransport.a common/libcommon.a \
	$(DEPS_LIBS) -lpthread
# bench_checkpoint: the tail's longest stall while mirror checkpoints are
# taken, and restart time against history length.
noinst_PROGRAMS += bench/bench_checkpoint
bench_bench_checkpoint_SOURCES = bench/bench_checkpoint.c
bench_bench_checkpoint_LDADD = $(AGENT_TEST_LIBS)
# bench_resume: the longest loop turn of either side during the resume
# of a 4 GiB snapshot at 90 %, against main's synchronous re-read.
noinst_PROGRAMS += bench/bench_resume
bench_bench_resume_SOURCES = bench/bench_resume.c
bench_bench_resume_LDADD = snapshot/libsnapshot.a common/libcommon.a \
	$(DEPS_LIBS) -lpthread
EXTRA_DIST += bench/bench_bootstrap.sh bench/README.md bench/bench_lib.sh \
	bench/bench_wan.sh
# bench_tail: latency from an append on the source spool to durable in the
# mirror's wal (bench_tail.sh drives it), and the highest sustained rate.
noinst_PROGRAMS += bench/bench_tail
bench_bench_tail_SOURCES = bench/bench_tail.c
bench_bench_tail_LDADD = $(AGENT_TEST_LIBS)
EXTRA_DIST += bench/bench_tail.sh
# UDP GSO/GRO on and off at Ethernet size across a veth pair (root).
EXTRA_DIST += bench/bench_offload.sh

# qlog_summary.sh: a qlog (MA_QLOG_DIR) interval by interval.
EXTRA_DIST += bench/qlog_summary.sh
# bench_metrics: one scrape of serve's /metrics against the number of
# mirrors, now (one pass) against the old walk to the i-th stream.
noinst_PROGRAMS += bench/bench_metrics
bench_bench_metrics_SOURCES = bench/bench_metrics.c
bench_bench_metrics_LDADD = $(AGENT_TEST_LIBS)
# bench_receiver_pieces: a frame split across 1,400-byte transport pieces,
# copied into one buffer and written once, against a write per piece.
noinst_PROGRAMS += bench/bench_receiver_pieces
bench_bench_receiver_pieces_SOURCES = bench/bench_receiver_pieces.c
bench_bench_receiver_pieces_LDADD = common/libcommon.a $(DEPS_LIBS) -lpthread
# bench_compress: zstd per snapshot chunk (ratio, compress and decompress
# MB/s, projected bootstrap time on the WAN profiles); bench_compress.sh
# feeds it real raftkv snapshots.
noinst_PROGRAMS += bench/bench_compress
bench_bench_compress_SOURCES = bench/bench_compress.c
bench_bench_compress_LDADD = common/libcommon.a $(DEPS_LIBS) -lpthread
EXTRA_DIST += bench/bench_compress.sh
