// ctnetlink socket work (no napi here: it runs on a libuv pool thread). One socket per call: it
// lives in the calling thread's network namespace, and nothing is shared between calls.
#include "ctnl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CT_RECV_BUF (64 * 1024)   // a dump datagram is at most 32 KiB (kernel cap)
#define CT_SEND_BUF (48 * 1024)   // below the default netlink sndbuf: one sendmsg per chunk
#define CT_DEL_RCVBUF (4 << 20)   // room for a chunk's acks (each costs ~1 KiB of truesize)
#define CT_MAX_CHUNK 512
#define CT_RECV_TIMEOUT_S 10

static int ct_socket(struct mnl_socket** nl, const char** syscall) {
  *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (!*nl) return *syscall = "socket", errno;
  // A bound on every wait: a pool thread must never hang on an answer that does not come.
  struct timeval tv = {.tv_sec = CT_RECV_TIMEOUT_S};
  setsockopt(mnl_socket_get_fd(*nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (mnl_socket_bind(*nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    int err = errno;
    mnl_socket_close(*nl);
    return *syscall = "bind", err;
  }
  return 0;
}

static ssize_t recv_retry(struct mnl_socket* nl, void* buf, size_t len) {
  ssize_t n;
  do n = mnl_socket_recvfrom(nl, buf, len);
  while (n < 0 && errno == EINTR);
  return n;
}

static ssize_t send_retry(struct mnl_socket* nl, const void* buf, size_t len) {
  ssize_t n;
  do n = mnl_socket_sendto(nl, buf, len);
  while (n < 0 && errno == EINTR);
  return n;
}

// ---- dump ----

static uint8_t* rec_push(ct_records* out) {
  if (out->count == out->cap) {
    size_t cap = out->cap ? out->cap * 2 : 1024;
    uint8_t* d = realloc(out->data, cap * CT_REC);
    if (!d) return NULL;
    out->data = d;
    out->cap = cap;
  }
  uint8_t* r = out->data + out->count++ * CT_REC;
  memset(r, 0, CT_REC);
  r[CT_OFF_STATE] = CT_NO_STATE;
  return r;
}

static void put16(uint8_t* r, int off, uint16_t v) { memcpy(r + off, &v, 2); }
static void put32(uint8_t* r, int off, uint32_t v) { memcpy(r + off, &v, 4); }

static void addr_into(uint8_t* r, int off, const struct nlattr* a, size_t want) {
  if (mnl_attr_get_payload_len(a) >= want) memcpy(r + off, mnl_attr_get_payload(a), want);
}

static bool u8_attr(const struct nlattr* a, uint8_t* v) {
  if (mnl_attr_get_payload_len(a) < 1) return false;
  *v = mnl_attr_get_u8(a);
  return true;
}

static bool be16_attr(const struct nlattr* a, uint16_t* v) {
  if (mnl_attr_get_payload_len(a) < 2) return false;
  *v = ntohs(mnl_attr_get_u16(a));
  return true;
}

static bool be32_attr(const struct nlattr* a, uint32_t* v) {
  if (mnl_attr_get_payload_len(a) < 4) return false;
  *v = ntohl(mnl_attr_get_u32(a));
  return true;
}

static void parse_tuple(const struct nlattr* tuple, uint8_t* r) {
  const struct nlattr *a, *b;
  mnl_attr_for_each_nested(a, tuple) {
    switch (mnl_attr_get_type(a)) {
    case CTA_TUPLE_IP:
      mnl_attr_for_each_nested(b, a) {
        switch (mnl_attr_get_type(b)) {
        case CTA_IP_V4_SRC: addr_into(r, CT_OFF_SRC, b, 4); break;
        case CTA_IP_V4_DST: addr_into(r, CT_OFF_DST, b, 4); break;
        case CTA_IP_V6_SRC: addr_into(r, CT_OFF_SRC, b, 16); break;
        case CTA_IP_V6_DST: addr_into(r, CT_OFF_DST, b, 16); break;
        }
      }
      break;
    case CTA_TUPLE_PROTO:
      mnl_attr_for_each_nested(b, a) {
        uint16_t v16;
        uint8_t v8;
        switch (mnl_attr_get_type(b)) {
        case CTA_PROTO_NUM: if (u8_attr(b, &v8)) r[CT_OFF_PROTO] = v8; break;
        case CTA_PROTO_SRC_PORT: if (be16_attr(b, &v16)) put16(r, CT_OFF_SPORT, v16), r[CT_OFF_HAS] |= CT_HAS_PORTS; break;
        case CTA_PROTO_DST_PORT: if (be16_attr(b, &v16)) put16(r, CT_OFF_DPORT, v16); break;
        case CTA_PROTO_ICMP_ID:
        case CTA_PROTO_ICMPV6_ID: if (be16_attr(b, &v16)) put16(r, CT_OFF_SPORT, v16), r[CT_OFF_HAS] |= CT_HAS_ICMP; break;
        case CTA_PROTO_ICMP_TYPE:
        case CTA_PROTO_ICMPV6_TYPE: if (u8_attr(b, &v8)) r[CT_OFF_ICMP_TYPE] = v8; break;
        case CTA_PROTO_ICMP_CODE:
        case CTA_PROTO_ICMPV6_CODE: if (u8_attr(b, &v8)) r[CT_OFF_ICMP_CODE] = v8; break;
        }
      }
      break;
    }
  }
}

// CTA_PROTOINFO { CTA_PROTOINFO_TCP | _SCTP | _DCCP { <STATE u8>, ... } }: the state attribute is
// type 1 in all three.
static void parse_protoinfo(const struct nlattr* info, uint8_t* r) {
  const struct nlattr *a, *b;
  mnl_attr_for_each_nested(a, info) {
    int t = mnl_attr_get_type(a);
    if (t != CTA_PROTOINFO_TCP && t != CTA_PROTOINFO_SCTP && t != CTA_PROTOINFO_DCCP) continue;
    mnl_attr_for_each_nested(b, a) {
      uint8_t v8;
      if (mnl_attr_get_type(b) == 1 && u8_attr(b, &v8)) r[CT_OFF_STATE] = v8;
    }
  }
}

static int dump_cb(const struct nlmsghdr* nlh, void* data) {
  ct_records* out = data;
  const struct nfgenmsg* nfg = mnl_nlmsg_get_payload(nlh);
  if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof *nfg) return MNL_CB_OK;
  if (nfg->nfgen_family != AF_INET && nfg->nfgen_family != AF_INET6) return MNL_CB_OK;
  uint8_t* r = rec_push(out);
  if (!r) {
    errno = ENOMEM;
    return MNL_CB_ERROR;
  }
  r[CT_OFF_FAMILY] = nfg->nfgen_family == AF_INET ? 4 : 6;
  const struct nlattr* a;
  mnl_attr_for_each(a, nlh, sizeof *nfg) {
    uint16_t v16;
    uint32_t v32;
    switch (mnl_attr_get_type(a)) {
    case CTA_TUPLE_ORIG: parse_tuple(a, r); break;
    case CTA_PROTOINFO: parse_protoinfo(a, r); break;
    case CTA_ZONE: if (be16_attr(a, &v16)) put16(r, CT_OFF_ZONE, v16), r[CT_OFF_HAS] |= CT_HAS_ZONE; break;
    case CTA_MARK: if (be32_attr(a, &v32)) put32(r, CT_OFF_MARK, v32), r[CT_OFF_HAS] |= CT_HAS_MARK; break;
    case CTA_STATUS: if (be32_attr(a, &v32)) put32(r, CT_OFF_STATUS, v32), r[CT_OFF_HAS] |= CT_HAS_STATUS; break;
    case CTA_TIMEOUT: if (be32_attr(a, &v32)) put32(r, CT_OFF_TIMEOUT, v32); break;
    case CTA_ID: if (be32_attr(a, &v32)) put32(r, CT_OFF_ID, v32); break;
    }
  }
  return MNL_CB_OK;
}

int ct_dump(int family, ct_records* out, const char** syscall) {
  struct mnl_socket* nl;
  int err = ct_socket(&nl, syscall);
  if (err) return err;
  uint8_t* buf = malloc(CT_RECV_BUF);
  if (!buf) {
    mnl_socket_close(nl);
    return *syscall = "malloc", ENOMEM;
  }
  uint32_t seq = (uint32_t)time(NULL), portid = mnl_socket_get_portid(nl);
  struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = seq;
  struct nfgenmsg* nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
  nfg->nfgen_family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  if (send_retry(nl, nlh, nlh->nlmsg_len) < 0) {
    err = errno, *syscall = "sendto";
  } else {
    for (;;) {
      ssize_t n = recv_retry(nl, buf, CT_RECV_BUF);
      if (n < 0) {
        err = errno, *syscall = "recvfrom";
        break;
      }
      errno = 0;
      int ret = mnl_cb_run(buf, (size_t)n, seq, portid, dump_cb, out);
      if (ret == MNL_CB_STOP) break;  // NLMSG_DONE
      if (ret < 0) {
        // An NLMSG_ERROR from the kernel (mnl sets errno from it), or ENOMEM from dump_cb.
        err = errno ? errno : EPROTO, *syscall = "IPCTNL_MSG_CT_GET";
        break;
      }
    }
  }
  free(buf);
  mnl_socket_close(nl);
  return err;
}

// ---- delete ----

static size_t put_delete(uint8_t* buf, uint32_t seq, const uint8_t* r) {
  struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = seq;
  bool v6 = r[CT_OFF_FAMILY] == 6;
  struct nfgenmsg* nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
  nfg->nfgen_family = v6 ? AF_INET6 : AF_INET;
  nfg->version = NFNETLINK_V0;
  uint16_t sport, dport, zone;
  memcpy(&sport, r + CT_OFF_SPORT, 2);
  memcpy(&dport, r + CT_OFF_DPORT, 2);
  memcpy(&zone, r + CT_OFF_ZONE, 2);
  uint8_t proto = r[CT_OFF_PROTO];
  struct nlattr* orig = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
  struct nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
  mnl_attr_put(nlh, v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, v6 ? 16 : 4, r + CT_OFF_SRC);
  mnl_attr_put(nlh, v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, v6 ? 16 : 4, r + CT_OFF_DST);
  mnl_attr_nest_end(nlh, ip);
  struct nlattr* pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
  mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
  if (r[CT_OFF_HAS] & CT_HAS_ICMP) {
    bool icmp6 = proto == 58;
    mnl_attr_put_u16(nlh, icmp6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID, htons(sport));
    mnl_attr_put_u8(nlh, icmp6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE, r[CT_OFF_ICMP_TYPE]);
    mnl_attr_put_u8(nlh, icmp6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE, r[CT_OFF_ICMP_CODE]);
  } else if (r[CT_OFF_HAS] & CT_HAS_PORTS) {
    mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
    mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
  }
  mnl_attr_nest_end(nlh, pr);
  mnl_attr_nest_end(nlh, orig);
  if (zone) mnl_attr_put_u16(nlh, CTA_ZONE, htons(zone));
  return nlh->nlmsg_len;
}

// Largest delete message: header 16 + nfgenmsg 4 + nests 12 + 2 x v6 address 40 + proto 5 attrs 40
// + zone 8, rounded up.
#define CT_DEL_MSG_MAX 160

int ct_delete(const uint8_t* recs, size_t count, ct_delete_counts* counts, const char** syscall) {
  struct mnl_socket* nl;
  int err = ct_socket(&nl, syscall);
  if (err) return err;
  int fd = mnl_socket_get_fd(nl), one = 1, rcvbuf = CT_DEL_RCVBUF;
  // Acks without the request echoed back; a big receive buffer (FORCE needs CAP_NET_ADMIN, which
  // deleting needs anyway) so a whole chunk's acks fit.
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  socklen_t optlen = sizeof rcvbuf;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &optlen) != 0) rcvbuf = 212992;
  size_t chunk = (size_t)rcvbuf / 2048;
  if (chunk > CT_MAX_CHUNK) chunk = CT_MAX_CHUNK;
  if (chunk < 1) chunk = 1;

  uint8_t* sbuf = malloc(CT_SEND_BUF);
  uint8_t* rbuf = malloc(MNL_SOCKET_BUFFER_SIZE);
  if (!sbuf || !rbuf) {
    err = ENOMEM, *syscall = "malloc";
    goto out;
  }
  uint32_t seq = (uint32_t)time(NULL);
  for (size_t i = 0; i < count && !err;) {
    size_t len = 0, n = 0;
    uint32_t first = seq + 1;
    while (i < count && n < chunk && len + CT_DEL_MSG_MAX <= CT_SEND_BUF) {
      len += put_delete(sbuf + len, ++seq, recs + i * CT_REC);
      i++, n++;
    }
    if (send_retry(nl, sbuf, len) < 0) {
      err = errno, *syscall = "sendto";
      break;
    }
    // Every request gets exactly one ack (NLMSG_ERROR, error 0 on success), one datagram each.
    while (n > 0) {
      ssize_t got = recv_retry(nl, rbuf, MNL_SOCKET_BUFFER_SIZE);
      if (got < 0) {
        err = errno, *syscall = "recvfrom";  // ENOBUFS: acks were lost, the counts would lie
        break;
      }
      const struct nlmsghdr* nlh = (const struct nlmsghdr*)rbuf;
      int left = (int)got;
      for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
        if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq < first || nlh->nlmsg_seq > seq) continue;
        if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(int)) continue;
        const struct nlmsgerr* e = mnl_nlmsg_get_payload(nlh);
        if (e->error == 0) counts->deleted++;
        else if (e->error == -ENOENT) counts->missing++;
        else counts->failed++, counts->last_errno = -e->error;
        n--;
      }
    }
  }
out:
  free(sbuf);
  free(rbuf);
  mnl_socket_close(nl);
  return err;
}
