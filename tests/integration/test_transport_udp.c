/* transport: the UDP glue on its own. GRO buffers split into datagrams
 * (segment sizes, a short last segment, a zero or odd segment size), a
 * real GSO batch over loopback received with and without UDP_GRO, the
 * sendmmsg path when GSO is off (MA_UDP_GSO=0) and the fallback when the
 * kernel refuses a GSO send (300 segments: EINVAL). Loopback
 * only; every receive is bounded by poll(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "transport/transport_int.h"

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

static void test_next_len(void **state)
{
	(void)state;
	/* Three full segments and a short one. */
	assert_int_equal(udp_gro_next_len(3 * 1452 + 100, 0, 1452), 1452);
	assert_int_equal(udp_gro_next_len(3 * 1452 + 100, 2 * 1452, 1452),
	                 1452);
	assert_int_equal(udp_gro_next_len(3 * 1452 + 100, 3 * 1452, 1452), 100);
	assert_int_equal(udp_gro_next_len(3 * 1452 + 100, 3 * 1452 + 100, 1452),
	                 0);
	/* Exact multiple: no empty tail. */
	assert_int_equal(udp_gro_next_len(2 * 1200, 1200, 1200), 1200);
	assert_int_equal(udp_gro_next_len(2 * 1200, 2400, 1200), 0);
	/* Segment size 0 (no GRO cmsg, or a zero one): one datagram. */
	assert_int_equal(udp_gro_next_len(5000, 0, 0), 5000);
	assert_int_equal(udp_gro_next_len(5000, 5000, 0), 0);
	/* Odd segment size. */
	assert_int_equal(udp_gro_next_len(20, 0, 7), 7);
	assert_int_equal(udp_gro_next_len(20, 14, 7), 6);
	/* Larger than the buffer: the buffer. */
	assert_int_equal(udp_gro_next_len(300, 0, 1452), 300);
	assert_int_equal(udp_gro_next_len(0, 0, 1452), 0);
}

/* A hand-filled batch: what udp_recv() leaves after recvmmsg. */
static void fill_msg(struct udp_rx *rx, int i, size_t len, size_t seg,
                     uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&rx->from[i];

	rx->msgs[i].msg_len = (unsigned)len;
	rx->seg[i] = seg;
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	rx->msgs[i].msg_hdr.msg_namelen = sizeof *sin;
	for (size_t k = 0; k < len; k++)
		rx->buf[(size_t)i * UDP_RX_SIZE + k] = (uint8_t)(k * 7 + i);
}

static void test_rx_next_split(void **state)
{
	/* msg 0: 4 x 1452 + 17 (GRO); msg 1: 999 bytes, no cmsg; msg 2:
	 * 21 bytes, odd segment 5; msg 3: 3000 bytes, zero segment size;
	 * msg 4: empty (skipped). */
	static const size_t want[] = {1452, 1452, 1452, 1452, 17, 999,
	                              5,    5,    5,    5,    1,  3000};
	static const int want_msg[] = {0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 3};
	static const size_t want_off[] = {0, 1452, 2904, 4356, 5808, 0,
	                                  0, 5,    10,   15,   20,   0};
	struct udp_rx rx;
	const struct sockaddr *from;
	const uint8_t *pkt;
	socklen_t fromlen;
	size_t len, k = 0;

	(void)state;
	assert_int_equal(udp_rx_init(&rx), 0);
	fill_msg(&rx, 0, 4 * 1452 + 17, 1452, 1000);
	fill_msg(&rx, 1, 999, 0, 1001);
	fill_msg(&rx, 2, 21, 5, 1002);
	fill_msg(&rx, 3, 3000, 0, 1003);
	fill_msg(&rx, 4, 0, 1452, 1004);
	rx.n = 5;
	rx.cur = 0;
	rx.cur_off = 0;
	while (udp_rx_next(&rx, &pkt, &len, &from, &fromlen)) {
		int m;

		assert_true(k < sizeof want / sizeof want[0]);
		m = want_msg[k];
		assert_int_equal(len, want[k]);
		assert_ptr_equal(pkt, rx.buf + (size_t)m * UDP_RX_SIZE +
		                          want_off[k]);
		assert_int_equal(pkt[0], (uint8_t)(want_off[k] * 7 + m));
		assert_int_equal(fromlen, sizeof(struct sockaddr_in));
		assert_int_equal(
		    ntohs(((const struct sockaddr_in *)from)->sin_port),
		    1000 + m);
		k++;
	}
	assert_int_equal(k, sizeof want / sizeof want[0]);
	assert_int_equal(rx.st_dgrams, k);
	/* Exhausted: stays so. */
	assert_int_equal(udp_rx_next(&rx, &pkt, &len, &from, &fromlen), 0);
	udp_rx_free(&rx);
}

struct pair {
	int tx, rx, tx_gso, rx_gso;
	struct sockaddr_storage txa, rxa;
	socklen_t txl, rxl;
};

static void open_pair(struct pair *p)
{
	char err[512];

	assert_int_equal(
	    udp_open("127.0.0.1", 0, &p->tx, &p->tx_gso, &p->txa, &p->txl, err),
	    0);
	assert_int_equal(
	    udp_open("127.0.0.1", 0, &p->rx, &p->rx_gso, &p->rxa, &p->rxl, err),
	    0);
}

static void close_pair(struct pair *p)
{
	close(p->tx);
	close(p->rx);
}

static int gro_on(int fd)
{
	int v = 0;
	socklen_t l = sizeof v;

	return getsockopt(fd, SOL_UDP, UDP_GRO, &v, &l) == 0 && v != 0;
}

/* Receives until want datagrams came (or 2 s pass), checking each one's
 * length (seg bytes, the last shorter) and bytes against src. Returns
 * the recvmmsg messages it took. */
static int recv_all(struct pair *p, struct udp_rx *rx, const uint8_t *src,
                    size_t total, size_t seg, size_t *ndg)
{
	size_t off = 0;
	int msgs = 0;

	*ndg = 0;
	while (off < total) {
		struct pollfd pfd = {p->rx, POLLIN, 0};
		const struct sockaddr *from;
		const uint8_t *pkt;
		socklen_t fromlen;
		size_t len;
		int n;

		assert_int_equal(poll(&pfd, 1, 2000), 1);
		n = udp_recv(p->rx, rx);
		assert_true(n >= 0);
		msgs += n;
		while (udp_rx_next(rx, &pkt, &len, &from, &fromlen)) {
			size_t w = total - off < seg ? total - off : seg;

			assert_int_equal(len, w);
			assert_memory_equal(pkt, src + off, len);
			assert_int_equal(
			    ((const struct sockaddr_in *)from)->sin_port,
			    ((const struct sockaddr_in *)&p->txa)->sin_port);
			off += len;
			(*ndg)++;
		}
	}
	assert_int_equal(off, total);
	return msgs;
}

static void pattern(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)((i * 131u + seed) ^ (i >> 8));
}

/* 10 datagrams of 1000 bytes and one of 300 in one GSO send. */
static void gso_batch(int gro)
{
	static uint8_t buf[10 * 1000 + 300];
	struct pair p;
	struct udp_rx rx;
	size_t sent, ndg;
	int msgs;

	if (!gro)
		setenv("MA_UDP_GRO", "0", 1);
	open_pair(&p);
	unsetenv("MA_UDP_GRO");
	assert_int_equal(udp_rx_init(&rx), 0);
	if (!p.tx_gso) {
		close_pair(&p);
		udp_rx_free(&rx);
		skip(); /* kernel without UDP_SEGMENT */
	}
	assert_int_equal(gro_on(p.rx), gro);
	pattern(buf, sizeof buf, 3);
	assert_int_equal(udp_send(p.tx, &p.tx_gso, (struct sockaddr *)&p.rxa,
	                          p.rxl, buf, sizeof buf, 1000, &sent),
	                 0);
	assert_int_equal(sent, sizeof buf);
	assert_int_equal(p.tx_gso, 1);
	msgs = recv_all(&p, &rx, buf, sizeof buf, 1000, &ndg);
	assert_int_equal(ndg, 11);
	if (gro) {
		/* Loopback hands the GSO batch to a GRO socket whole. */
		assert_int_equal(msgs, 1);
		assert_int_equal(rx.seg[0], 1000);
		assert_int_equal(rx.st_gro_bufs, 1);
	} else {
		assert_int_equal(msgs, 11);
		assert_int_equal(rx.st_gro_bufs, 0);
	}
	udp_rx_free(&rx);
	close_pair(&p);
}

static void test_gso_to_gro(void **state)
{
	(void)state;
	gso_batch(1);
}

static void test_gso_to_plain(void **state)
{
	(void)state;
	gso_batch(0);
}

/* MA_UDP_GSO=0: no GSO, the batch goes out with sendmmsg (70 datagrams:
 * more than one sendmmsg call of UDP_GSO_MAX_SEGS). */
static void test_gso_off_sendmmsg(void **state)
{
	static uint8_t buf[69 * 1452 + 11];
	struct pair p;
	struct udp_rx rx;
	size_t sent, ndg;

	(void)state;
	setenv("MA_UDP_GSO", "0", 1);
	open_pair(&p);
	unsetenv("MA_UDP_GSO");
	assert_int_equal(p.tx_gso, 0);
	assert_int_equal(udp_rx_init(&rx), 0);
	pattern(buf, sizeof buf, 5);
	assert_int_equal(udp_send(p.tx, &p.tx_gso, (struct sockaddr *)&p.rxa,
	                          p.rxl, buf, sizeof buf, 1452, &sent),
	                 0);
	assert_int_equal(sent, sizeof buf);
	(void)recv_all(&p, &rx, buf, sizeof buf, 1452, &ndg);
	assert_int_equal(ndg, 70);
	udp_rx_free(&rx);
	close_pair(&p);
}

/* The kernel refuses a GSO send of more than UDP_MAX_SEGMENTS (64, 128
 * since Linux 6.9) segments with EINVAL:
 * udp_send() turns GSO off for the socket and sends every datagram. */
static void test_gso_refused_fallback(void **state)
{
	static uint8_t buf[300 * 10];
	struct pair p;
	struct udp_rx rx;
	size_t sent, ndg;

	(void)state;
	open_pair(&p);
	assert_int_equal(udp_rx_init(&rx), 0);
	if (!p.tx_gso) {
		close_pair(&p);
		udp_rx_free(&rx);
		skip();
	}
	pattern(buf, sizeof buf, 9);
	assert_int_equal(udp_send(p.tx, &p.tx_gso, (struct sockaddr *)&p.rxa,
	                          p.rxl, buf, sizeof buf, 10, &sent),
	                 0);
	assert_int_equal(sent, sizeof buf);
	assert_int_equal(p.tx_gso, 0);
	(void)recv_all(&p, &rx, buf, sizeof buf, 10, &ndg);
	assert_int_equal(ndg, 300);
	/* Later sends stay on the fallback and still arrive. */
	pattern(buf, 3 * 10, 11);
	assert_int_equal(udp_send(p.tx, &p.tx_gso, (struct sockaddr *)&p.rxa,
	                          p.rxl, buf, 3 * 10, 10, &sent),
	                 0);
	assert_int_equal(p.tx_gso, 0);
	(void)recv_all(&p, &rx, buf, 3 * 10, 10, &ndg);
	assert_int_equal(ndg, 3);
	udp_rx_free(&rx);
	close_pair(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_next_len),
	    cmocka_unit_test(test_rx_next_split),
	    cmocka_unit_test(test_gso_to_gro),
	    cmocka_unit_test(test_gso_to_plain),
	    cmocka_unit_test(test_gso_off_sendmmsg),
	    cmocka_unit_test(test_gso_refused_fallback),
	};

	unsetenv("MA_UDP_GSO");
	unsetenv("MA_UDP_GRO");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
