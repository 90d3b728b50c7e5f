// One NFQUEUE: a netlink socket bound to a queue number, drained per event-loop wake-up into
// JS-owned buffers (packet bytes + per-packet metadata) with one JS callback per batch, and
// verdicts sent back for a whole batch in one sendmsg.
#include "handle.h"
#include "nfq_msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OPEN_USAGE                                                                              \
  "openQueue(options: { queue: 0..65535, copyRange: 1..65535, maxLen: >= 1, failOpen: boolean, " \
  "gso: boolean, rcvbuf: bytes, defaultVerdict: 0 | 1 }, data: Buffer (>= copyRange bytes), "   \
  "meta: Uint32Array (n * 11 words), onBatch: (count: number) => void)"
#define VERDICTS_USAGE "verdicts(verdicts: Uint32Array ([id, verdict, mark | 0xffffffff] per packet), count: number)"
#define STATS_USAGE "stats(out: Float64Array (>= 10 entries))"

// Keep in sync with src/native/binding.ts (META, STAT).
enum { M_ID, M_HWPROTO, M_HOOK, M_INDEV, M_OUTDEV, M_MARK, M_CAPLEN, M_WIRELEN, M_OFFSET, M_PHYSIN, M_PHYSOUT, META_FIELDS };
enum { S_BATCHES, S_PACKETS, S_VERDICTS, S_VERDICT_SENDS, S_BATCH_VERDICTS, S_ENOBUFS, S_OVERFLOW,
       S_NL_ERRORS, S_LAST_NL_ERRNO, S_TRUNCATED, STAT_FIELDS };

#define SEND_CHUNK (48 * 1024)   // below the default netlink sndbuf, so one sendmsg never EMSGSIZEs
#define CONFIG_TIMEOUT_MS 2000

typedef struct {
  sock_handle h;  // first member
  uint16_t queue;
  uint32_t default_verdict;
  uint32_t seq;
  bool verdicted;  // verdicts() was called during the current batch callback
  napi_ref data_ref, meta_ref;  // keep the JS-owned buffers alive while we write into them
  uint8_t* data;
  size_t data_len;
  uint32_t* meta;
  size_t cap;  // packets per batch
  // recvmmsg: `slots` datagrams of `slot_size` bytes each
  unsigned slots;
  size_t slot_size;
  uint8_t* rbuf;
  struct mmsghdr* msgs;
  struct iovec* iovs;
  uint8_t sbuf[SEND_CHUNK + NFQ_VERDICT_MSG_MAX];
  double stats[STAT_FIELDS];
} nfq;

static int send_all(int fd, const void* buf, size_t len) {
  ssize_t n;
  do {
    n = send(fd, buf, len, 0);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? errno : 0;
}

// Gives a packet the addon cannot hand to JS its default verdict, so no packet is ever leaked.
static void verdict_default(nfq* q, uint32_t id) {
  uint8_t buf[NFQ_VERDICT_MSG_MAX];
  size_t len = nfq_put_verdict(buf, q->queue, id, q->default_verdict, NFQ_NO_MARK, 0);
  if (send_all(q->h.fd, buf, len) == 0) q->stats[S_VERDICTS]++;
  q->stats[S_OVERFLOW]++;
}

// Default verdict for every packet of the current batch (ids from meta), in one send per chunk.
static void verdict_batch_default(nfq* q, size_t count) {
  size_t len = 0;
  for (size_t i = 0; i < count; i++) {
    len += nfq_put_verdict(q->sbuf + len, q->queue, q->meta[i * META_FIELDS + M_ID], q->default_verdict, NFQ_NO_MARK, 0);
    if (len >= SEND_CHUNK || i == count - 1) {
      if (send_all(q->h.fd, q->sbuf, len) == 0) q->stats[S_VERDICT_SENDS]++;
      len = 0;
    }
  }
  q->stats[S_VERDICTS] += (double)count;
  q->stats[S_OVERFLOW] += (double)count;
}

static void count_error(nfq* q, int err) {
  if (err == 0) return;
  q->stats[S_NL_ERRORS]++;
  q->stats[S_LAST_NL_ERRNO] = err;
}

// Sends a config request and waits for its ack. Packets queued meanwhile get the default verdict.
// Returns 0 or the positive errno; *syscall names what failed.
static int config_request(nfq* q, const void* msg, size_t len, const char** syscall) {
  uint32_t seq = ((const struct nlmsghdr*)msg)->nlmsg_seq;
  int err = send_all(q->h.fd, msg, len);
  if (err) {
    *syscall = "sendmsg";
    return err;
  }
  // The first receive slot: large enough for any packet message at this queue's copy range.
  uint8_t* buf = q->rbuf;
  size_t bufsize = q->slot_size;
  for (;;) {
    struct pollfd pfd = {.fd = q->h.fd, .events = POLLIN};
    int pr = poll(&pfd, 1, CONFIG_TIMEOUT_MS);
    if (pr < 0 && errno == EINTR) continue;
    if (pr < 0) {
      *syscall = "poll";
      return errno;
    }
    if (pr == 0) {
      *syscall = "recvmsg (no ack)";
      return ETIMEDOUT;
    }
    ssize_t n = recv(q->h.fd, buf, bufsize, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == ENOBUFS) {
        q->stats[S_ENOBUFS]++;
        continue;
      }
      *syscall = "recvmsg";
      return errno;
    }
    int left = (int)n;
    for (const struct nlmsghdr* nlh = (const struct nlmsghdr*)buf; NLMSG_OK(nlh, left); nlh = NLMSG_NEXT(nlh, left)) {
      nfq_packet pkt;
      int ok = 0, e = 0;
      uint32_t s = 0;
      int kind = nfq_classify(nlh, &pkt, &ok, &e, &s);
      if (kind == NFQ_MSG_PACKET && ok) {
        verdict_default(q, pkt.id);
      } else if (kind == NFQ_MSG_ERROR) {
        if (s == seq) {
          *syscall = "nfnetlink";
          return e;
        }
        count_error(q, e);
      }
    }
  }
}

static void nfq_readable(sock_handle* base) {
  nfq* q = (nfq*)base;
  size_t count = 0, off = 0;
  for (;;) {
    size_t want = q->cap - count;
    if (want == 0) break;  // the rest waits for the next wake-up (level-triggered poll)
    unsigned vlen = want < q->slots ? (unsigned)want : q->slots;
    for (unsigned i = 0; i < vlen; i++) {
      q->msgs[i].msg_hdr.msg_flags = 0;
      q->msgs[i].msg_len = 0;
    }
    int n = recvmmsg(base->fd, q->msgs, vlen, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        // The socket overran. The kernel never queued the packets it could not deliver (dropped, or
        // accepted with FAIL_OPEN: queue_user_dropped in /proc), so nothing is stuck; count it.
        q->stats[S_ENOBUFS]++;
        continue;
      }
      break;  // EAGAIN: drained
    }
    for (int i = 0; i < n; i++) {
      if (q->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) q->stats[S_TRUNCATED]++;
      int left = (int)q->msgs[i].msg_len;
      for (const struct nlmsghdr* nlh = (const struct nlmsghdr*)q->iovs[i].iov_base; NLMSG_OK(nlh, left);
           nlh = NLMSG_NEXT(nlh, left)) {
        nfq_packet pkt;
        int ok = 0, e = 0;
        uint32_t s = 0;
        int kind = nfq_classify(nlh, &pkt, &ok, &e, &s);
        if (kind == NFQ_MSG_ERROR) {
          count_error(q, e);
          continue;
        }
        if (kind != NFQ_MSG_PACKET || !ok) continue;
        uint32_t caplen = pkt.caplen;
        if (count >= q->cap || off + caplen > q->data_len) {
          verdict_default(q, pkt.id);
          continue;
        }
        uint32_t* m = q->meta + count * META_FIELDS;
        m[M_ID] = pkt.id;
        m[M_HWPROTO] = pkt.hw_protocol;
        m[M_HOOK] = pkt.hook;
        m[M_INDEV] = pkt.indev;
        m[M_OUTDEV] = pkt.outdev;
        m[M_MARK] = pkt.mark;
        m[M_CAPLEN] = caplen;
        m[M_WIRELEN] = pkt.wirelen;
        m[M_OFFSET] = (uint32_t)off;
        m[M_PHYSIN] = pkt.physindev;
        m[M_PHYSOUT] = pkt.physoutdev;
        if (caplen) memcpy(q->data + off, pkt.payload, caplen);
        off += (caplen + 7u) & ~7u;  // 8-byte aligned starts keep header reads cheap
        if (off > q->data_len) off = q->data_len;
        count++;
      }
    }
    if ((unsigned)n < vlen) break;  // fewer than asked: the socket is drained
  }
  if (count == 0) return;
  q->stats[S_BATCHES]++;
  q->stats[S_PACKETS] += (double)count;
  q->verdicted = false;
  napi_value argv[1];
  if (napi_create_uint32(base->env, (uint32_t)count, &argv[0]) == napi_ok) handle_call(base, 1, argv);
  // Safety net: a callback that threw or forgot must not leave the batch queued in the kernel.
  if (!q->verdicted && !base->closed) verdict_batch_default(q, count);
}

static napi_value nfq_verdicts(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  sock_handle* base = handle_from_info(env, info, &argc, argv, true);
  if (!base) return NULL;
  nfq* q = (nfq*)base;
  if (argc < 2) return throw_usage(env, VERDICTS_USAGE);
  bool is_ta = false;
  NAPI_CHECK(env, napi_is_typedarray(env, argv[0], &is_ta), NULL);
  if (!is_ta) return throw_usage(env, VERDICTS_USAGE);
  napi_typedarray_type type;
  size_t length = 0;
  void* raw = NULL;
  NAPI_CHECK(env, napi_get_typedarray_info(env, argv[0], &type, &length, &raw, NULL, NULL), NULL);
  uint32_t count = 0;
  if (type != napi_uint32_array || napi_get_value_uint32(env, argv[1], &count) != napi_ok ||
      (size_t)count * 3 > length)
    return throw_usage(env, VERDICTS_USAGE);
  q->verdicted = true;
  if (count == 0) return NULL;
  const uint32_t* v = (const uint32_t*)raw;

  // One NFQNL_MSG_VERDICT_BATCH covers ids <= last when every verdict and mark is the same and the
  // ids are consecutive (every packet of the batch is in it; older ones were verdicted already).
  bool same = true;
  for (uint32_t i = 1; i < count && same; i++)
    same = v[i * 3] == v[0] + i && v[i * 3 + 1] == v[1] && v[i * 3 + 2] == v[2];
  if (same && count > 1) {
    size_t len = nfq_put_verdict(q->sbuf, q->queue, v[(count - 1) * 3], v[1], v[2], 1);
    int err = send_all(base->fd, q->sbuf, len);
    if (err) return throw_errno(env, "sendmsg", err, "NFQNL_MSG_VERDICT_BATCH");
    q->stats[S_VERDICT_SENDS]++;
    q->stats[S_BATCH_VERDICTS]++;
    q->stats[S_VERDICTS] += count;
    return NULL;
  }
  size_t len = 0;
  for (uint32_t i = 0; i < count; i++) {
    len += nfq_put_verdict(q->sbuf + len, q->queue, v[i * 3], v[i * 3 + 1], v[i * 3 + 2], 0);
    if (len >= SEND_CHUNK || i == count - 1) {
      int err = send_all(base->fd, q->sbuf, len);
      if (err) return throw_errno(env, "sendmsg", err, "NFQNL_MSG_VERDICT");
      q->stats[S_VERDICT_SENDS]++;
      len = 0;
    }
  }
  q->stats[S_VERDICTS] += count;
  return NULL;
}

static napi_value nfq_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  sock_handle* base = handle_from_info(env, info, &argc, argv, false);
  if (!base) return NULL;
  nfq* q = (nfq*)base;
  bool is_ta = false;
  if (argc < 1) return throw_usage(env, STATS_USAGE);
  NAPI_CHECK(env, napi_is_typedarray(env, argv[0], &is_ta), NULL);
  if (!is_ta) return throw_usage(env, STATS_USAGE);
  napi_typedarray_type type;
  size_t length = 0;
  void* raw = NULL;
  NAPI_CHECK(env, napi_get_typedarray_info(env, argv[0], &type, &length, &raw, NULL, NULL), NULL);
  if (type != napi_float64_array || length < STAT_FIELDS) return throw_usage(env, STATS_USAGE);
  memcpy(raw, q->stats, sizeof q->stats);
  return NULL;
}

static napi_value nfq_close_js(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  sock_handle* base = handle_from_info(env, info, &argc, NULL, false);
  if (base) handle_close(base);
  return NULL;
}

static void nfq_on_close(sock_handle* base) {
  nfq* q = (nfq*)base;
  if (base->fd >= 0) {
    // Best effort: closing the socket unbinds too (NETLINK_URELEASE), this just says so first.
    uint8_t buf[256] __attribute__((aligned(4)));
    size_t len = nfq_put_bind(buf, ++q->seq, q->queue, NFQNL_CFG_CMD_UNBIND);
    ((struct nlmsghdr*)buf)->nlmsg_flags &= ~NLM_F_ACK;
    send_all(base->fd, buf, len);
  }
  if (q->data_ref) NAPI_REPORT(base->env, napi_delete_reference(base->env, q->data_ref));
  if (q->meta_ref) NAPI_REPORT(base->env, napi_delete_reference(base->env, q->meta_ref));
  q->data_ref = q->meta_ref = NULL;
  q->data = NULL;
  q->meta = NULL;
}

static void nfq_on_free(sock_handle* base) {
  nfq* q = (nfq*)base;
  free(q->rbuf);
  free(q->msgs);
  free(q->iovs);
}

static bool get_u32_prop(napi_env env, napi_value obj, const char* name, uint32_t* out) {
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok ||
      t != napi_number)
    return false;
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

static bool get_bool_prop(napi_env env, napi_value obj, const char* name, bool* out) {
  napi_value v;
  return napi_get_named_property(env, obj, name, &v) == napi_ok && napi_get_value_bool(env, v, out) == napi_ok;
}

// Sets up everything after the handle owns the fd; throws and returns false on failure.
static bool nfq_setup(napi_env env, nfq* q, uint32_t copy_range, uint32_t maxlen, uint32_t flags, uint32_t rcvbuf) {
  int fd = q->h.fd;
  char what[64];
  snprintf(what, sizeof what, "queue %u", q->queue);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr*)&sa, sizeof sa) != 0) return throw_errno(env, "bind", errno, "AF_NETLINK"), false;
  int size = (int)rcvbuf;
  // SO_RCVBUFFORCE ignores rmem_max (needs CAP_NET_ADMIN, which binding a queue needs anyway).
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0)
    return throw_errno(env, "setsockopt", errno, "SO_RCVBUF"), false;
  // NETLINK_NO_ENOBUFS stays off: an overrun must be visible (counted as enobufs).
  // Receive slots: the payload (≤ copy range) plus room for every other attribute the kernel adds.
  q->slot_size = ((size_t)copy_range + 1024 + 63) & ~(size_t)63;
  q->slots = q->cap < 64 ? (unsigned)q->cap : 64;
  q->rbuf = aligned_alloc(64, q->slot_size * q->slots);
  q->msgs = calloc(q->slots, sizeof *q->msgs);
  q->iovs = calloc(q->slots, sizeof *q->iovs);
  if (!q->rbuf || !q->msgs || !q->iovs) return throw_errno(env, "malloc", ENOMEM, what), false;
  for (unsigned i = 0; i < q->slots; i++) {
    q->iovs[i].iov_base = q->rbuf + i * q->slot_size;
    q->iovs[i].iov_len = q->slot_size;
    q->msgs[i].msg_hdr.msg_iov = &q->iovs[i];
    q->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint8_t buf[256] __attribute__((aligned(4)));
  const char* syscall = "";
  size_t len = nfq_put_bind(buf, ++q->seq, q->queue, NFQNL_CFG_CMD_BIND);
  int err = config_request(q, buf, len, &syscall);
  if (err) {
    char s[64];
    snprintf(s, sizeof s, "%s NFQNL_CFG_CMD_BIND", syscall);
    return throw_errno(env, s, err, what), false;
  }
  len = nfq_put_params(buf, ++q->seq, q->queue, copy_range, maxlen, flags);
  err = config_request(q, buf, len, &syscall);
  if (err) {
    char s[64];
    snprintf(s, sizeof s, "%s NFQA_CFG_PARAMS", syscall);
    return throw_errno(env, s, err, what), false;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return throw_errno(env, "fcntl", errno, "O_NONBLOCK"), false;

  return true;
}

napi_value nfq_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  if (argc < 4) return throw_usage(env, OPEN_USAGE);
  napi_valuetype t;
  NAPI_CHECK(env, napi_typeof(env, argv[0], &t), NULL);
  if (t != napi_object) return throw_usage(env, OPEN_USAGE);
  uint32_t queue, copy_range, maxlen, rcvbuf, defv;
  bool fail_open, gso;
  if (!get_u32_prop(env, argv[0], "queue", &queue) || queue > 65535 ||
      !get_u32_prop(env, argv[0], "copyRange", &copy_range) || copy_range < 1 || copy_range > 65535 ||
      !get_u32_prop(env, argv[0], "maxLen", &maxlen) || maxlen < 1 ||
      !get_u32_prop(env, argv[0], "rcvbuf", &rcvbuf) || rcvbuf > 0x7fffffff ||
      !get_u32_prop(env, argv[0], "defaultVerdict", &defv) || (defv != NF_ACCEPT && defv != NF_DROP) ||
      !get_bool_prop(env, argv[0], "failOpen", &fail_open) || !get_bool_prop(env, argv[0], "gso", &gso))
    return throw_usage(env, OPEN_USAGE);
  bool is_buf = false, is_ta = false;
  void* data = NULL;
  size_t data_len = 0;
  NAPI_CHECK(env, napi_is_buffer(env, argv[1], &is_buf), NULL);
  if (!is_buf) return throw_usage(env, OPEN_USAGE);
  NAPI_CHECK(env, napi_get_buffer_info(env, argv[1], &data, &data_len), NULL);
  if (data_len < copy_range) return throw_usage(env, OPEN_USAGE);
  NAPI_CHECK(env, napi_is_typedarray(env, argv[2], &is_ta), NULL);
  if (!is_ta) return throw_usage(env, OPEN_USAGE);
  napi_typedarray_type type;
  size_t meta_len = 0;
  void* meta = NULL;
  NAPI_CHECK(env, napi_get_typedarray_info(env, argv[2], &type, &meta_len, &meta, NULL, NULL), NULL);
  if (type != napi_uint32_array || meta_len < META_FIELDS) return throw_usage(env, OPEN_USAGE);
  NAPI_CHECK(env, napi_typeof(env, argv[3], &t), NULL);
  if (t != napi_function) return throw_usage(env, OPEN_USAGE);

  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return throw_errno(env, "socket", errno, "AF_NETLINK, NETLINK_NETFILTER");
  nfq* q = calloc(1, sizeof *q);
  if (!q) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM, NULL);
  }
  q->h.env = env;
  q->h.fd = fd;
  q->h.refs = 1;
  q->h.on_readable = nfq_readable;
  q->h.on_close = nfq_on_close;
  q->h.on_free = nfq_on_free;
  q->queue = (uint16_t)queue;
  q->default_verdict = defv;
  q->data = data;
  q->data_len = data_len;
  q->meta = meta;
  q->cap = meta_len / META_FIELDS;
  uint32_t flags = (fail_open ? NFQA_CFG_F_FAIL_OPEN : 0) | (gso ? NFQA_CFG_F_GSO : 0);
  napi_value obj;
  // From here the handle owns fd and q: handle_close releases both on any failure.
  if (napi_create_reference(env, argv[1], 1, &q->data_ref) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &q->meta_ref) != napi_ok ||
      !nfq_setup(env, q, copy_range, maxlen, flags, rcvbuf) ||
      !handle_start(env, &q->h, fd, argv[3], "netpol:nfqueue") ||
      napi_create_object(env, &obj) != napi_ok ||
      !handle_method(env, obj, "verdicts", nfq_verdicts, &q->h) ||
      !handle_method(env, obj, "stats", nfq_stats, &q->h) ||
      !handle_method(env, obj, "close", nfq_close_js, &q->h)) {
    handle_close(&q->h);
    return NULL;
  }
  return obj;
}
