/* linkemu: a userspace link emulator that relays IP packets between two
 * network namespaces through TUN devices, so TCP and QUIC (and ping) cross
 * the identical impaired link. netem without the kernel module.
 *
 *   linkemu --a NS:IFNAME --b NS:IFNAME [OPTION...]
 *
 * It creates TUN device IFNAME in each namespace (NS is a name under
 * /run/netns or a path) and exits when they vanish, on SIGTERM or SIGINT.
 * The caller configures addresses and routes once --ready-file exists
 * (tests/tools/linkemu.sh does all of it). A is the client's side, B the
 * server's: "ab" is the direction A to B, "ba" B to A.
 *
 * Per-direction options apply to both directions, or to one when written
 * --ab-NAME / --ba-NAME (e.g. --ba-rate-kbit 20000 --ab-rate-kbit 2000):
 *   --delay-ms MS      one-way delay (default 0)
 *   --jitter-ms MS     each packet's delay is MS +- JITTER (uniform, never
 *                      below 0); packets keep their order unless --reorder
 *   --reorder          let jitter reorder packets
 *   --loss PCT         random loss, independent per packet
 *   --burst-max N      at most N consecutive random losses (0: no cap)
 *   --ge P,R,LG,LB     Gilbert-Elliott loss, in percent: P good->bad and R
 *                      bad->good per packet, loss LG in good and LB in bad
 *   --drop-index LIST  drop the packets of these 1-based indexes (counted
 *                      per direction over every packet read), e.g. 1,2,7
 *   --corrupt PCT      flip one byte among the first 51 of a UDP payload
 *                      and deliver it (the UDP checksum is recomputed, so
 *                      the receiver's kernel accepts it)
 *   --duplicate PCT    deliver a packet twice (the copy with its own
 *                      jitter)
 *   --rate-kbit KBIT   serialisation rate in kbit/s (0: unlimited)
 *   --queue N          packets that may wait behind the one being sent
 *                      (drop-tail; default 25, as the QUIC interop runner)
 * Global options:
 *   --blackhole UP_MS:DOWN_MS   from start, alternately pass everything for
 *                      UP_MS then drop everything for DOWN_MS
 *   --rebind-port-ms MS  every MS the client's (A's) source port of each
 *                      TCP/UDP flow moves to a new random port (NAT)
 *   --rebind-addr-ms MS  every MS the client's source address moves to
 *                      another one in its /24 (last octet + 16 each time)
 *   --seed N           random seed (each direction its own stream)
 *   --limit N          packets in flight on the delay line, per direction
 *   --ready-file F     written once both devices exist
 *   --stats-file F     counters at exit, one "name value" per line
 *   --trace-file F     one line per UDP datagram as it enters the link
 *                      ("in") and as it leaves it ("out"), or where it was
 *                      dropped ("drop"): "MS DIR EVENT UDP_PAYLOAD_LEN
 *                      KINDS", MS since start; KINDS names the QUIC v1
 *                      packets coalesced in it: I (Initial; It with a
 *                      token), 0 (0-RTT), H (Handshake), R (Retry), V
 *                      (Version Negotiation), S (short header), - (none)
 *
 * Order in each direction, as a router's queue in front of a wire: drop by
 * index, blackhole, random/GE loss, corruption, NAT rewrite, the rate
 * queue (drop-tail), duplication, then the delay line. With rebinding, packets
 * from B to a mapping that no longer exists are dropped, as a NAT that forgot
 * it. IPv4 only for NAT and corruption; other packets pass untouched. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

#define PKT_MAX 65536
#define READ_BATCH 64
#define NAT_MAX 256
#define DROP_INDEX_MAX 1024
#define CORRUPT_SPAN 51

enum { AB, BA, NDIR };
static const char *const dir_name[NDIR] = {"ab", "ba"};

struct pkt {
	struct pkt *next;
	uint64_t due_ns;
	uint32_t len;
	uint8_t data[];
};

struct dircfg {
	uint64_t delay_ns;
	uint64_t jitter_ns;
	bool reorder;
	double loss;
	unsigned burst_max;
	bool ge;
	double ge_p, ge_r, ge_lg, ge_lb;
	uint64_t drop_idx[DROP_INDEX_MAX];
	size_t ndrop;
	double corrupt;
	double duplicate;
	uint64_t rate_bps;
	unsigned queue;
};

struct counters {
	uint64_t received;
	uint64_t forwarded;
	uint64_t bytes_forwarded;
	uint64_t dropped_index;
	uint64_t dropped_blackhole;
	uint64_t dropped_loss;
	uint64_t dropped_queue;
	uint64_t dropped_line;
	uint64_t dropped_nat;
	uint64_t write_errors;
	uint64_t corrupted;
	uint64_t duplicated;
	uint64_t rewritten;
	uint64_t max_queue;
};

struct dir {
	struct dircfg c;
	int in_fd, out_fd;
	uint64_t rng;
	uint64_t index;
	unsigned burst;
	bool ge_bad;
	/* Finish times of the packets on the rate-limited link (the one being
	 * sent, then those waiting), a ring of c.queue + 1 slots. */
	uint64_t *fin;
	unsigned fin_head, fin_count;
	uint64_t link_free_ns;
	struct pkt *head, *tail;
	uint64_t line_pkts;
	uint64_t last_due;
	struct counters st;
};

struct nat {
	uint8_t proto;
	uint32_t addr; /* network order */
	uint16_t port;
	uint32_t maddr;
	uint16_t mport;
	uint64_t port_epoch;
	uint64_t addr_epoch;
};

static struct dir dirs[NDIR];
static uint64_t start_ns;
static uint64_t bh_up_ns, bh_down_ns;
static uint64_t rebind_port_ns, rebind_addr_ns;
static uint64_t line_limit = 200000;
static struct nat nat[NAT_MAX];
static size_t nnat;
static uint64_t nat_rng;
static volatile sig_atomic_t stop;
static FILE *trace;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("linkemu: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double unit(uint64_t *s)
{
	return (double)(splitmix(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- checksums ---- */

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t acc)
{
	for (; n > 1; p += 2, n -= 2)
		acc += (uint32_t)p[0] << 8 | p[1];
	if (n)
		acc += (uint32_t)p[0] << 8;
	return acc;
}

static uint16_t fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* RFC 1624 incremental update of the checksum at CK when the 16-bit word
 * OLD becomes NEW. */
static void csum_adjust(uint8_t *ck, uint16_t old, uint16_t new)
{
	uint32_t acc = (uint16_t)~get16(ck);
	acc += (uint16_t)~old;
	acc += new;
	put16(ck, (uint16_t)~fold(acc));
}

struct ip4 {
	uint8_t *ip;
	size_t ihl;
	uint8_t proto;
	uint8_t *l4; /* NULL for a fragment other than the first */
	size_t l4len;
};

static bool parse_ip4(uint8_t *p, size_t len, struct ip4 *h)
{
	if (len < 20 || (p[0] >> 4) != 4)
		return false;
	size_t ihl = (size_t)(p[0] & 15) * 4;
	size_t tot = get16(p + 2);
	if (ihl < 20 || tot < ihl || tot > len)
		return false;
	h->ip = p;
	h->ihl = ihl;
	h->proto = p[9];
	h->l4 = NULL;
	h->l4len = 0;
	if ((get16(p + 6) & 0x1fff) == 0) {
		h->l4 = p + ihl;
		h->l4len = tot - ihl;
	}
	return true;
}

/* Offset of the transport checksum, or 0 when there is none to fix. */
static size_t l4_csum_off(const struct ip4 *h)
{
	if (!h->l4)
		return 0;
	if (h->proto == IPPROTO_TCP && h->l4len >= 20)
		return 16;
	if (h->proto == IPPROTO_UDP && h->l4len >= 8 && get16(h->l4 + 6) != 0)
		return 6;
	return 0;
}

static bool has_ports(const struct ip4 *h)
{
	return h->l4 && ((h->proto == IPPROTO_TCP && h->l4len >= 20) ||
	                 (h->proto == IPPROTO_UDP && h->l4len >= 8));
}

/* Rewrites the 32-bit address at AP to NADDR (network order), fixing the
 * IP header checksum and the transport one (its pseudo-header holds it). */
static void set_addr(struct ip4 *h, uint8_t *ap, uint32_t naddr)
{
	uint8_t nb[4];
	memcpy(nb, &naddr, 4);
	size_t off = l4_csum_off(h);
	for (int i = 0; i < 4; i += 2) {
		uint16_t o = get16(ap + i), n = get16(nb + i);
		csum_adjust(h->ip + 10, o, n);
		if (off)
			csum_adjust(h->l4 + off, o, n);
	}
	memcpy(ap, nb, 4);
	if (off && h->proto == IPPROTO_UDP && get16(h->l4 + 6) == 0)
		put16(h->l4 + 6, 0xffff);
}

static void set_port(struct ip4 *h, uint8_t *pp, uint16_t port)
{
	size_t off = l4_csum_off(h);
	if (off)
		csum_adjust(h->l4 + off, get16(pp), port);
	put16(pp, port);
	if (off && h->proto == IPPROTO_UDP && get16(h->l4 + 6) == 0)
		put16(h->l4 + 6, 0xffff);
}

static void udp_csum_recompute(struct ip4 *h)
{
	uint8_t *u = h->l4;
	put16(u + 6, 0);
	uint32_t acc = sum16(h->ip + 12, 8, 0);
	acc += IPPROTO_UDP;
	acc += (uint32_t)h->l4len;
	acc = sum16(u, h->l4len, acc);
	uint16_t ck = (uint16_t)~fold(acc);
	put16(u + 6, ck ? ck : 0xffff);
}

/* ---- NAT rebinding of the client (A) side ---- */

static uint64_t epoch(uint64_t period, uint64_t now)
{
	return period ? (now - start_ns) / period : 0;
}

static uint32_t addr_for_epoch(uint32_t addr, uint64_t e)
{
	uint32_t h = ntohl(addr);
	h = (h & ~0xffu) | ((h + 16u * (uint32_t)(e % 16)) & 0xffu);
	return htonl(h);
}

static bool port_in_use(uint8_t proto, uint16_t port)
{
	for (size_t i = 0; i < nnat; i++)
		if (nat[i].proto == proto && nat[i].mport == port)
			return true;
	return false;
}

/* A to B: the source becomes the flow's current mapping. */
static bool nat_out(struct ip4 *h, uint64_t now)
{
	uint64_t ep = epoch(rebind_port_ns, now),
	         ea = epoch(rebind_addr_ns, now);
	bool ports = has_ports(h);
	uint16_t sport = ports ? get16(h->l4) : 0;
	uint32_t saddr;
	memcpy(&saddr, h->ip + 12, 4);
	struct nat *n = NULL;
	for (size_t i = 0; i < nnat; i++)
		if (nat[i].proto == h->proto && nat[i].addr == saddr &&
		    nat[i].port == sport)
			n = &nat[i];
	if (!n) {
		if (nnat == NAT_MAX)
			return false;
		n = &nat[nnat++];
		*n = (struct nat){.proto = h->proto,
		                  .addr = saddr,
		                  .port = sport,
		                  .maddr = addr_for_epoch(saddr, ea),
		                  .mport = sport,
		                  .port_epoch = 0,
		                  .addr_epoch = ea};
	}
	if (ports && rebind_port_ns && n->port_epoch != ep) {
		uint16_t p;
		int tries = 0;
		do
			p = (uint16_t)(20000 + splitmix(&nat_rng) % 40000);
		while (port_in_use(h->proto, p) && ++tries < 100);
		n->mport = ep ? p : sport;
		n->port_epoch = ep;
	}
	if (n->addr_epoch != ea) {
		n->maddr = addr_for_epoch(saddr, ea);
		n->addr_epoch = ea;
	}
	if (n->maddr != saddr)
		set_addr(h, h->ip + 12, n->maddr);
	if (ports && n->mport != sport)
		set_port(h, h->l4, n->mport);
	return true;
}

/* B to A: the destination must be a live mapping; it becomes the
 * original. */
static bool nat_in(struct ip4 *h)
{
	bool ports = has_ports(h);
	uint16_t dport = ports ? get16(h->l4 + 2) : 0;
	uint32_t daddr;
	memcpy(&daddr, h->ip + 16, 4);
	for (size_t i = 0; i < nnat; i++) {
		struct nat *n = &nat[i];
		if (n->proto != h->proto || n->maddr != daddr)
			continue;
		if (ports && n->mport != dport)
			continue;
		if (n->addr != daddr)
			set_addr(h, h->ip + 16, n->addr);
		if (ports && n->port != dport)
			set_port(h, h->l4 + 2, n->port);
		return true;
	}
	return false;
}

/* ---- the trace of UDP datagrams (QUIC packet kinds) ---- */

static bool varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
	if (*i >= n)
		return false;
	size_t len = (size_t)1 << (p[*i] >> 6);
	if (*i + len > n)
		return false;
	*v = p[*i] & 0x3f;
	for (size_t k = 1; k < len; k++)
		*v = *v << 8 | p[*i + k];
	*i += len;
	return true;
}

/* The kinds of the QUIC v1 packets coalesced in a datagram (see --trace-file).
 * Header protection hides nothing used here: the long header's type bits and
 * lengths are in the clear. */
static void quic_kinds(const uint8_t *p, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	while (n > 0 && o + 3 < cap) {
		if (!(p[0] & 0x80)) {
			out[o++] = 'S';
			break;
		}
		size_t i = 5;
		if (n < 7)
			break;
		if (!p[1] && !p[2] && !p[3] && !p[4]) {
			out[o++] = 'V';
			break;
		}
		unsigned type = (p[0] >> 4) & 3;
		i += 1 + p[i];
		if (i >= n)
			break;
		i += 1 + p[i];
		if (i > n)
			break;
		if (type == 3) {
			out[o++] = 'R';
			break;
		}
		out[o++] = type == 0 ? 'I' : type == 1 ? '0' : 'H';
		uint64_t v;
		if (type == 0) {
			if (!varint(p, n, &i, &v) || v > n - i)
				break;
			if (v)
				out[o++] = 't';
			i += (size_t)v;
		}
		if (!varint(p, n, &i, &v) || v > n - i)
			break;
		i += (size_t)v;
		p += i;
		n -= i;
	}
	if (!o)
		out[o++] = '-';
	out[o] = 0;
}

static void trace_pkt(int di, const char *event, const uint8_t *buf, size_t len,
                      uint64_t now)
{
	struct ip4 h;
	char kinds[32];
	if (!trace || !parse_ip4((uint8_t *)buf, len, &h) ||
	    h.proto != IPPROTO_UDP || !h.l4 || h.l4len < 8)
		return;
	quic_kinds(h.l4 + 8, h.l4len - 8, kinds, sizeof kinds);
	fprintf(trace, "%.3f %s %s %zu %s\n", (double)(now - start_ns) / 1e6,
	        dir_name[di], event, h.l4len - 8, kinds);
}

/* ---- the link ---- */

static bool lose(struct dir *d)
{
	struct dircfg *c = &d->c;
	double p = c->loss;
	if (c->ge) {
		if (d->ge_bad) {
			if (unit(&d->rng) < c->ge_r)
				d->ge_bad = false;
		} else if (unit(&d->rng) < c->ge_p) {
			d->ge_bad = true;
		}
		p = d->ge_bad ? c->ge_lb : c->ge_lg;
	}
	if (p <= 0)
		return false;
	bool drop = unit(&d->rng) < p;
	if (drop && c->burst_max && d->burst >= c->burst_max)
		drop = false;
	d->burst = drop ? d->burst + 1 : 0;
	return drop;
}

static bool in_blackhole(uint64_t now)
{
	if (!bh_down_ns)
		return false;
	uint64_t t = (now - start_ns) % (bh_up_ns + bh_down_ns);
	return t >= bh_up_ns;
}

static void corrupt(struct dir *d, uint8_t *p, size_t len)
{
	struct ip4 h;
	if (!parse_ip4(p, len, &h) || h.proto != IPPROTO_UDP || !h.l4 ||
	    h.l4len <= 8)
		return;
	size_t span = h.l4len - 8 < CORRUPT_SPAN ? h.l4len - 8 : CORRUPT_SPAN;
	size_t at = 8 + (size_t)(splitmix(&d->rng) % span);
	h.l4[at] ^= (uint8_t)(1 + splitmix(&d->rng) % 255);
	udp_csum_recompute(&h);
	d->st.corrupted++;
}

static void line_insert(struct dir *d, struct pkt *p)
{
	if (!d->tail || d->tail->due_ns <= p->due_ns) {
		p->next = NULL;
		if (d->tail)
			d->tail->next = p;
		else
			d->head = p;
		d->tail = p;
		return;
	}
	struct pkt **pp = &d->head;
	while (*pp && (*pp)->due_ns <= p->due_ns)
		pp = &(*pp)->next;
	p->next = *pp;
	*pp = p;
}

static void handle(struct dir *d, int di, uint8_t *buf, size_t len,
                   uint64_t now)
{
	struct dircfg *c = &d->c;
	d->st.received++;
	d->index++;
	trace_pkt(di, "in", buf, len, now);
	for (size_t i = 0; i < c->ndrop; i++)
		if (c->drop_idx[i] == d->index) {
			d->st.dropped_index++;
			trace_pkt(di, "drop", buf, len, now);
			return;
		}
	if (in_blackhole(now)) {
		d->st.dropped_blackhole++;
		trace_pkt(di, "drop", buf, len, now);
		return;
	}
	if (lose(d)) {
		d->st.dropped_loss++;
		trace_pkt(di, "drop", buf, len, now);
		return;
	}
	if (c->corrupt > 0 && unit(&d->rng) < c->corrupt)
		corrupt(d, buf, len);
	if (rebind_port_ns || rebind_addr_ns) {
		struct ip4 h;
		if (parse_ip4(buf, len, &h)) {
			if (!(di == AB ? nat_out(&h, now) : nat_in(&h))) {
				d->st.dropped_nat++;
				trace_pkt(di, "drop", buf, len, now);
				return;
			}
			d->st.rewritten++;
		}
	}
	uint64_t depart = now;
	if (c->rate_bps) {
		while (d->fin_count && d->fin[d->fin_head] <= now) {
			d->fin_head = (d->fin_head + 1) % (c->queue + 1);
			d->fin_count--;
		}
		if (d->fin_count >= c->queue + 1) {
			d->st.dropped_queue++;
			trace_pkt(di, "drop", buf, len, now);
			return;
		}
		uint64_t begin = d->link_free_ns > now ? d->link_free_ns : now;
		depart =
		    begin + (uint64_t)len * 8 * 1000000000ULL / c->rate_bps;
		d->link_free_ns = depart;
		d->fin[(d->fin_head + d->fin_count) % (c->queue + 1)] = depart;
		d->fin_count++;
		if (d->fin_count - 1 > d->st.max_queue)
			d->st.max_queue = d->fin_count - 1;
	}
	/* A duplicate follows its original through the same wire slot, with
	 * its own jitter, as netem's duplicate. */
	int copies = c->duplicate > 0 && unit(&d->rng) < c->duplicate ? 2 : 1;
	for (int k = 0; k < copies; k++) {
		if (d->line_pkts >= line_limit) {
			d->st.dropped_line++;
			return;
		}
		int64_t delay = (int64_t)c->delay_ns;
		if (c->jitter_ns)
			delay += (int64_t)(unit(&d->rng) * 2.0 *
			                   (double)c->jitter_ns) -
			         (int64_t)c->jitter_ns;
		uint64_t due = depart + (uint64_t)(delay > 0 ? delay : 0);
		if (!c->reorder && due < d->last_due)
			due = d->last_due;
		if (due > d->last_due)
			d->last_due = due;
		struct pkt *p = malloc(sizeof(*p) + len);
		if (!p)
			die("out of memory for a %zu-byte packet", len);
		p->due_ns = due;
		p->len = (uint32_t)len;
		memcpy(p->data, buf, len);
		line_insert(d, p);
		d->line_pkts++;
		if (k)
			d->st.duplicated++;
	}
}

static void flush(struct dir *d, int di, uint64_t now)
{
	while (d->head && d->head->due_ns <= now) {
		struct pkt *p = d->head;
		d->head = p->next;
		if (!d->head)
			d->tail = NULL;
		d->line_pkts--;
		if (write(d->out_fd, p->data, p->len) == (ssize_t)p->len) {
			d->st.forwarded++;
			d->st.bytes_forwarded += p->len;
			trace_pkt(di, "out", p->data, p->len, now);
		} else {
			d->st.write_errors++;
		}
		free(p);
	}
}

/* ---- set-up ---- */

static int tun_in_ns(const char *spec)
{
	char ns[256], path[300];
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || !colon[1] ||
	    (size_t)(colon - spec) >= sizeof(ns) ||
	    strlen(colon + 1) >= IFNAMSIZ)
		die("'%s': expected NAMESPACE:IFNAME (IFNAME up to %d "
		    "characters)",
		    spec, IFNAMSIZ - 1);
	memcpy(ns, spec, (size_t)(colon - spec));
	ns[colon - spec] = 0;
	snprintf(path, sizeof(path), "%s%s",
	         strchr(ns, '/') ? "" : "/run/netns/", ns);
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || nsfd < 0)
		die("cannot open network namespace %s: %s (made by `ip netns "
		    "add`?)",
		    path, strerror(errno));
	if (setns(nsfd, CLONE_NEWNET) != 0)
		die("setns %s: %s (needs root)", path, strerror(errno));
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		die("open /dev/net/tun: %s", strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", colon + 1);
	if (ioctl(fd, TUNSETIFF, &ifr) != 0)
		die("TUNSETIFF %s in %s: %s", colon + 1, ns, strerror(errno));
	if (setns(self, CLONE_NEWNET) != 0)
		die("setns back: %s", strerror(errno));
	close(nsfd);
	close(self);
	return fd;
}

static double num(const char *opt, const char *v, double lo, double hi)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (errno || end == v || *end || x < lo || x > hi)
		die("--%s %s: expected a number in [%g, %g]", opt, v, lo, hi);
	return x;
}

static void parse_ge(struct dircfg *c, const char *v)
{
	double x[4];
	char *end;
	const char *s = v;
	for (int i = 0; i < 4; i++) {
		x[i] = strtod(s, &end);
		if (end == s || x[i] < 0 || x[i] > 100 ||
		    (i < 3 ? *end != ',' : *end != 0))
			die("--ge %s: expected P,R,LOSS_GOOD,LOSS_BAD in "
			    "percent",
			    v);
		s = end + 1;
	}
	c->ge = true;
	c->ge_p = x[0] / 100;
	c->ge_r = x[1] / 100;
	c->ge_lg = x[2] / 100;
	c->ge_lb = x[3] / 100;
}

static void parse_list(struct dircfg *c, const char *v)
{
	const char *s = v;
	c->ndrop = 0;
	while (*s) {
		char *end;
		unsigned long long i = strtoull(s, &end, 10);
		if (end == s || i == 0 || (*end && *end != ',') ||
		    c->ndrop == DROP_INDEX_MAX)
			die("--drop-index %s: expected up to %d indexes from "
			    "1, "
			    "comma-separated",
			    v, DROP_INDEX_MAX);
		c->drop_idx[c->ndrop++] = i;
		s = *end ? end + 1 : end;
	}
}

/* Applies one per-direction option to direction C; false if NAME is not
 * one. */
static bool dir_opt(struct dircfg *c, const char *name, const char *v)
{
	if (!strcmp(name, "delay-ms"))
		c->delay_ns = (uint64_t)(num(name, v, 0, 60000) * 1e6);
	else if (!strcmp(name, "jitter-ms"))
		c->jitter_ns = (uint64_t)(num(name, v, 0, 60000) * 1e6);
	else if (!strcmp(name, "loss"))
		c->loss = num(name, v, 0, 100) / 100;
	else if (!strcmp(name, "burst-max"))
		c->burst_max = (unsigned)num(name, v, 0, 1e6);
	else if (!strcmp(name, "ge"))
		parse_ge(c, v);
	else if (!strcmp(name, "drop-index"))
		parse_list(c, v);
	else if (!strcmp(name, "corrupt"))
		c->corrupt = num(name, v, 0, 100) / 100;
	else if (!strcmp(name, "duplicate"))
		c->duplicate = num(name, v, 0, 100) / 100;
	else if (!strcmp(name, "rate-kbit"))
		c->rate_bps = (uint64_t)(num(name, v, 0, 1e9) * 1000);
	else if (!strcmp(name, "queue"))
		c->queue = (unsigned)num(name, v, 0, 1e6);
	else
		return false;
	return true;
}

static void usage(void)
{
	fputs("usage: linkemu --a NS:IF --b NS:IF [--[ab-|ba-]delay-ms MS] "
	      "[--jitter-ms MS] [--reorder]\n"
	      "  [--loss PCT] [--burst-max N] [--ge P,R,LG,LB] "
	      "[--drop-index LIST] [--corrupt PCT]\n"
	      "  [--duplicate PCT] [--rate-kbit KBIT] [--queue N] [--blackhole "
	      "UP_MS:DOWN_MS]\n"
	      "  [--rebind-port-ms MS] [--rebind-addr-ms MS] [--seed N] "
	      "[--limit N]\n"
	      "  [--ready-file F] [--stats-file F] [--trace-file F]\n"
	      "(see the top of tests/tools/linkemu.c)\n",
	      stderr);
	exit(2);
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void write_stats(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "linkemu: cannot write %s: %s\n", path,
		        strerror(errno));
		return;
	}
	for (int i = 0; i < NDIR; i++) {
		const struct counters *s = &dirs[i].st;
		const char *n = dir_name[i];
#define C(x) fprintf(f, "%s_" #x " %" PRIu64 "\n", n, s->x)
		C(received);
		C(forwarded);
		C(bytes_forwarded);
		C(dropped_index);
		C(dropped_blackhole);
		C(dropped_loss);
		C(dropped_queue);
		C(dropped_line);
		C(dropped_nat);
		C(write_errors);
		C(corrupted);
		C(duplicated);
		C(rewritten);
		C(max_queue);
#undef C
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	const char *a = NULL, *b = NULL, *ready = NULL, *stats = NULL;
	uint64_t seed = 1;
	for (int i = 0; i < NDIR; i++)
		dirs[i].c.queue = 25;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strncmp(arg, "--", 2) != 0)
			usage();
		char name[64];
		const char *v = strchr(arg, '=');
		size_t nl = v ? (size_t)(v - arg - 2) : strlen(arg + 2);
		if (nl >= sizeof(name))
			usage();
		memcpy(name, arg + 2, nl);
		name[nl] = 0;
		if (!strcmp(name, "reorder") || !strcmp(name, "ab-reorder") ||
		    !strcmp(name, "ba-reorder")) {
			if (name[0] != 'b')
				dirs[AB].c.reorder = true;
			if (name[0] != 'a')
				dirs[BA].c.reorder = true;
			continue;
		}
		if (v)
			v++;
		else if (i + 1 < argc)
			v = argv[++i];
		else
			die("--%s needs a value", name);
		int mask = 3;
		const char *base = name;
		if (!strncmp(name, "ab-", 3)) {
			mask = 1;
			base = name + 3;
		} else if (!strncmp(name, "ba-", 3)) {
			mask = 2;
			base = name + 3;
		}
		bool done = false;
		for (int d = 0; d < NDIR; d++)
			if (mask & (1 << d))
				done = dir_opt(&dirs[d].c, base, v);
		if (done)
			continue;
		if (mask != 3)
			die("--%s: unknown option", name);
		if (!strcmp(name, "a"))
			a = v;
		else if (!strcmp(name, "b"))
			b = v;
		else if (!strcmp(name, "seed"))
			seed = (uint64_t)num(name, v, 0, 1e18);
		else if (!strcmp(name, "limit"))
			line_limit = (uint64_t)num(name, v, 1, 1e8);
		else if (!strcmp(name, "rebind-port-ms"))
			rebind_port_ns = (uint64_t)(num(name, v, 1, 1e9) * 1e6);
		else if (!strcmp(name, "rebind-addr-ms"))
			rebind_addr_ns = (uint64_t)(num(name, v, 1, 1e9) * 1e6);
		else if (!strcmp(name, "ready-file"))
			ready = v;
		else if (!strcmp(name, "stats-file"))
			stats = v;
		else if (!strcmp(name, "trace-file")) {
			trace = fopen(v, "w");
			if (!trace)
				die("cannot write %s: %s", v, strerror(errno));
		} else if (!strcmp(name, "blackhole")) {
			unsigned long up, down;
			char tail;
			if (sscanf(v, "%lu:%lu%c", &up, &down, &tail) != 2 ||
			    !up || !down)
				die("--blackhole %s: expected UP_MS:DOWN_MS, "
				    "both > 0",
				    v);
			bh_up_ns = up * 1000000ULL;
			bh_down_ns = down * 1000000ULL;
		} else
			die("--%s: unknown option", name);
	}
	if (!a || !b)
		usage();

	int fa = tun_in_ns(a), fb = tun_in_ns(b);
	dirs[AB].in_fd = fa;
	dirs[AB].out_fd = fb;
	dirs[BA].in_fd = fb;
	dirs[BA].out_fd = fa;
	for (int i = 0; i < NDIR; i++) {
		dirs[i].rng = seed * 2 + (uint64_t)i + 0x51ed;
		dirs[i].fin = calloc(dirs[i].c.queue + 1, sizeof(uint64_t));
		if (!dirs[i].fin)
			die("out of memory");
	}
	nat_rng = seed ^ 0xa5a5a5a5ULL;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	start_ns = clock_mono_ns();
	if (ready) {
		FILE *f = fopen(ready, "w");
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 ||
		    fclose(f) != 0)
			die("cannot write %s: %s", ready, strerror(errno));
	}

	static uint8_t buf[PKT_MAX];
	int rc = 0;
	while (!stop) {
		uint64_t now = clock_mono_ns();
		uint64_t next = UINT64_MAX;
		for (int i = 0; i < NDIR; i++) {
			flush(&dirs[i], i, now);
			if (dirs[i].head && dirs[i].head->due_ns < next)
				next = dirs[i].head->due_ns;
		}
		struct timespec ts, *tsp = NULL;
		if (next != UINT64_MAX) {
			uint64_t w = next > now ? next - now : 0;
			ts.tv_sec = (time_t)(w / 1000000000ULL);
			ts.tv_nsec = (long)(w % 1000000000ULL);
			tsp = &ts;
		}
		struct pollfd pfd[NDIR] = {{.fd = fa, .events = POLLIN},
		                           {.fd = fb, .events = POLLIN}};
		int n = ppoll(pfd, NDIR, tsp, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "linkemu: poll: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		if (n == 0)
			continue;
		for (int i = 0; i < NDIR; i++) {
			if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
				fprintf(stderr,
				        "linkemu: device %s went away\n",
				        i == AB ? a : b);
				stop = 1;
				rc = 1;
			}
			if (!(pfd[i].revents & POLLIN))
				continue;
			now = clock_mono_ns();
			for (int k = 0; k < READ_BATCH; k++) {
				ssize_t r = read(pfd[i].fd, buf, sizeof(buf));
				if (r <= 0)
					break;
				handle(&dirs[i], i, buf, (size_t)r, now);
			}
		}
	}
	if (stats)
		write_stats(stats);
	if (trace && fclose(trace) != 0) {
		fprintf(stderr, "linkemu: writing the trace: %s\n",
		        strerror(errno));
		rc = 1;
	}
	return rc;
}
