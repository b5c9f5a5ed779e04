/* transport: UDP socket glue (bind, GSO or sendmmsg sends, recvmmsg
 * batches split after UDP GRO). The only file of the module that talks to
 * the kernel's socket API. */
#include "transport/transport_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "common/errors.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/* "0" (or "no"/"off") in the variable turns the offload off. */
static int env_enabled(const char *name)
{
	const char *e = getenv(name);

	if (e == NULL || *e == '\0')
		return 1;
	return !(strcmp(e, "0") == 0 || strcmp(e, "no") == 0 ||
	         strcmp(e, "off") == 0);
}

int udp_gso_wanted(void)
{
	return env_enabled("MA_UDP_GSO");
}

int udp_gro_wanted(void)
{
	return env_enabled("MA_UDP_GRO");
}

int udp_addr(const char *addr, uint16_t port, struct sockaddr_storage *ss,
             socklen_t *len, char *errmsg)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof *sin;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof *sin6;
		return 0;
	}
	return ma_errorf(errmsg, MA_ERR_CONFIG,
	                 "\"%s\" is not a numeric IPv4/IPv6 address", addr);
}

int udp_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		return ntohl(sin->sin_addr.s_addr) >> 24 == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a))
			return 1;
		if (IN6_IS_ADDR_V4MAPPED(a))
			return a->s6_addr[12] == 127;
	}
	return 0;
}

int udp_open(const char *addr, uint16_t port, int *fd, int *gso,
             struct sockaddr_storage *local, socklen_t *locallen, char *errmsg)
{
	int s, rv, one = 1, seg = 0;
	int bufsz = 8 << 20;
	socklen_t sl = sizeof seg;

	rv = udp_addr(addr, port, local, locallen, errmsg);
	if (rv != 0)
		return rv;
	s = socket(local->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	           0);
	if (s < 0)
		return ma_errorf(errmsg, MA_ERR_IO, "socket: %s",
		                 strerror(errno));
	/* Large buffers absorb bursts at high rates (a full receive buffer
	 * drops datagrams, which the sender takes for congestion). The
	 * kernel caps SO_RCVBUF at rmem_max; with CAP_NET_ADMIN the FORCE
	 * variants go past it, else the capped size is fine. */
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof bufsz) !=
	    0)
		(void)setsockopt(s, SOL_SOCKET, SO_RCVBUF, &bufsz,
		                 sizeof bufsz);
	if (setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof bufsz) !=
	    0)
		(void)setsockopt(s, SOL_SOCKET, SO_SNDBUF, &bufsz,
		                 sizeof bufsz);
	if (local->ss_family == AF_INET6)
		(void)setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		                 sizeof one);
	if (bind(s, (struct sockaddr *)local, *locallen) != 0) {
		rv = ma_errorf(errmsg, MA_ERR_IO, "bind %s port %u: %s", addr,
		               port, strerror(errno));
		close(s);
		return rv;
	}
	*locallen = sizeof *local;
	if (getsockname(s, (struct sockaddr *)local, locallen) != 0) {
		rv = ma_errorf(errmsg, MA_ERR_IO, "getsockname: %s",
		               strerror(errno));
		close(s);
		return rv;
	}
	*gso = udp_gso_wanted() &&
	       getsockopt(s, SOL_UDP, UDP_SEGMENT, &seg, &sl) == 0;
	/* GRO: the kernel hands over runs of same-size datagrams of one
	 * sender as one buffer with their size in a cmsg (udp_recv()).
	 * Without it (old kernel) every datagram comes on its own. */
	if (udp_gro_wanted())
		(void)setsockopt(s, SOL_UDP, UDP_GRO, &one, sizeof one);
	*fd = s;
	return 0;
}

static int send_one(int fd, const struct sockaddr *to, socklen_t tolen,
                    const uint8_t *buf, size_t len, size_t seg)
{
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {(void *)buf, len};
	struct msghdr msg = {0};
	ssize_t n;

	msg.msg_name = (void *)to;
	msg.msg_namelen = tolen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (seg != 0 && len > seg) {
		struct cmsghdr *cm;
		uint16_t s16 = (uint16_t)seg;

		memset(&u, 0, sizeof u);
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof u.buf;
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof s16);
		memcpy(CMSG_DATA(cm), &s16, sizeof s16);
	}
	do {
		n = sendmsg(fd, &msg, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return 0;
}

/* Sends len bytes as datagrams of seg bytes with sendmmsg, up to
 * UDP_GSO_MAX_SEGS per call. Returns 0 or -EAGAIN (*sent bytes went). */
static int send_many(int fd, const struct sockaddr *to, socklen_t tolen,
                     const uint8_t *buf, size_t len, size_t seg, size_t *sent)
{
	struct mmsghdr mm[UDP_GSO_MAX_SEGS];
	struct iovec iov[UDP_GSO_MAX_SEGS];
	size_t off = 0;

	if (seg == 0)
		seg = len;
	while (off < len) {
		size_t o = off;
		int k, n;

		for (k = 0; k < UDP_GSO_MAX_SEGS && o < len; k++) {
			size_t l = len - o < seg ? len - o : seg;

			iov[k].iov_base = (void *)(buf + o);
			iov[k].iov_len = l;
			memset(&mm[k], 0, sizeof mm[k]);
			mm[k].msg_hdr.msg_name = (void *)to;
			mm[k].msg_hdr.msg_namelen = tolen;
			mm[k].msg_hdr.msg_iov = &iov[k];
			mm[k].msg_hdr.msg_iovlen = 1;
			o += l;
		}
		do {
			n = sendmmsg(fd, mm, (unsigned)k, 0);
		} while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				*sent = off;
				return -EAGAIN;
			}
			/* Any other error loses the first datagram only (a
			 * failure after it ends the call early and comes back
			 * on the next one); QUIC recovers. */
			n = 1;
		}
		for (int i = 0; i < n; i++)
			off += iov[i].iov_len;
	}
	*sent = len;
	return 0;
}

int udp_send(int fd, int *gso, const struct sockaddr *to, socklen_t tolen,
             const uint8_t *buf, size_t len, size_t seg, size_t *sent)
{
	int rv;

	*sent = 0;
	if (*gso && len > seg) {
		rv = send_one(fd, to, tolen, buf, len, seg);
		if (rv == 0) {
			*sent = len;
			return 0;
		}
		if (rv == -EAGAIN || rv == -EWOULDBLOCK)
			return -EAGAIN;
		/* Only EIO/EINVAL say the device or path cannot segment: then
		 * fall back to sendmmsg for good on this socket. Any other
		 * error (ENOBUFS, ENETUNREACH, ECONNREFUSED, ...) drops this
		 * batch, which QUIC recovers, and keeps GSO. */
		if (rv != -EIO && rv != -EINVAL) {
			*sent = len;
			return 0;
		}
		*gso = 0;
	}
	if (len <= seg || seg == 0) {
		rv = send_one(fd, to, tolen, buf, len, 0);
		if (rv == -EAGAIN || rv == -EWOULDBLOCK)
			return -EAGAIN;
		/* Any other error loses this datagram only; QUIC recovers. */
		*sent = len;
		return 0;
	}
	return send_many(fd, to, tolen, buf, len, seg, sent);
}

int udp_rx_init(struct udp_rx *rx)
{
	memset(rx, 0, sizeof *rx);
	rx->buf = malloc((size_t)UDP_RX_BATCH * UDP_RX_SIZE);
	return rx->buf == NULL ? MA_ERR_NOMEM : 0;
}

void udp_rx_free(struct udp_rx *rx)
{
	free(rx->buf);
	rx->buf = NULL;
}

int udp_recv(int fd, struct udp_rx *rx)
{
	int i, n;

	rx->n = 0;
	rx->cur = 0;
	rx->cur_off = 0;
	for (i = 0; i < UDP_RX_BATCH; i++) {
		rx->iov[i].iov_base = rx->buf + (size_t)i * UDP_RX_SIZE;
		rx->iov[i].iov_len = UDP_RX_SIZE;
		memset(&rx->msgs[i], 0, sizeof rx->msgs[i]);
		rx->msgs[i].msg_hdr.msg_iov = &rx->iov[i];
		rx->msgs[i].msg_hdr.msg_iovlen = 1;
		rx->msgs[i].msg_hdr.msg_name = &rx->from[i];
		rx->msgs[i].msg_hdr.msg_namelen = sizeof rx->from[i];
		rx->msgs[i].msg_hdr.msg_control = rx->ctrl[i];
		rx->msgs[i].msg_hdr.msg_controllen = UDP_RX_CTRL;
	}
	do {
		n = recvmmsg(fd, rx->msgs, UDP_RX_BATCH, MSG_DONTWAIT, NULL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
	for (i = 0; i < n; i++) {
		struct msghdr *mh = &rx->msgs[i].msg_hdr;
		struct cmsghdr *cm;

		rx->seg[i] = 0;
		for (cm = CMSG_FIRSTHDR(mh); cm != NULL;
		     cm = CMSG_NXTHDR(mh, cm)) {
			int v;

			if (cm->cmsg_level != SOL_UDP ||
			    cm->cmsg_type != UDP_GRO ||
			    cm->cmsg_len < CMSG_LEN(sizeof v))
				continue;
			memcpy(&v, CMSG_DATA(cm), sizeof v);
			rx->seg[i] = v > 0 ? (size_t)v : 0;
		}
		if (rx->seg[i] != 0 && rx->seg[i] < rx->msgs[i].msg_len)
			rx->st_gro_bufs++;
	}
	rx->n = n;
	return n;
}

size_t udp_gro_next_len(size_t total, size_t off, size_t seg)
{
	if (off >= total)
		return 0;
	if (seg == 0 || total - off < seg)
		return total - off;
	return seg;
}

int udp_rx_next(struct udp_rx *rx, const uint8_t **pkt, size_t *len,
                const struct sockaddr **from, socklen_t *fromlen)
{
	while (rx->cur < rx->n) {
		int i = rx->cur;
		size_t l = udp_gro_next_len(rx->msgs[i].msg_len, rx->cur_off,
		                            rx->seg[i]);

		if (l == 0) {
			rx->cur++;
			rx->cur_off = 0;
			continue;
		}
		*pkt = rx->buf + (size_t)i * UDP_RX_SIZE + rx->cur_off;
		*len = l;
		*from = (const struct sockaddr *)&rx->from[i];
		*fromlen = rx->msgs[i].msg_hdr.msg_namelen;
		rx->cur_off += l;
		rx->st_dgrams++;
		return 1;
	}
	return 0;
}
