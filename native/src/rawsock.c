// Raw IP sockets (no IP_HDRINCL): the lab speaks SCTP through them because this kernel has no
// SCTP sockets. JS sees transport header + data in both directions.
#include "handle.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RAW_USAGE "openRawSocket(family: 4 | 6, protocol: 1..255, onPacket: (src: string, payload: Buffer) => void)"
#define SEND_USAGE "send(dst: string /* IP address of the socket's family */, payload: Buffer | Uint8Array)"
#define RAW_MAX_PER_WAKEUP 256  // bounded so one busy socket cannot starve the event loop

typedef struct {
  sock_handle h;  // first member: the handle code casts between the two
  int family;     // AF_INET or AF_INET6
  uint8_t buf[65536];
} raw_sock;

static void raw_readable(sock_handle* base) {
  raw_sock* s = (raw_sock*)base;
  napi_env env = base->env;
  for (int n = 0; n < RAW_MAX_PER_WAKEUP && !base->closed; n++) {
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof from;
    ssize_t len = recvfrom(base->fd, s->buf, sizeof s->buf, MSG_DONTWAIT, (struct sockaddr*)&from, &fromlen);
    if (len < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // drained
      continue;  // EINTR, or a reported ICMP error (now cleared): keep reading, bounded by the loop
    }
    size_t off = 0;
    if (s->family == AF_INET) {  // IPv4 raw sockets deliver the IP header: strip it
      if (len < 20) continue;
      off = (size_t)(s->buf[0] & 0x0f) * 4;
      if (off < 20 || off > (size_t)len) continue;
    }
    char addr[INET6_ADDRSTRLEN];
    const void* src = s->family == AF_INET ? (const void*)&((struct sockaddr_in*)&from)->sin_addr
                                            : (const void*)&((struct sockaddr_in6*)&from)->sin6_addr;
    if (!inet_ntop(s->family, src, addr, sizeof addr)) continue;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value argv[2];
    void* copy;
    if (napi_create_string_utf8(env, addr, NAPI_AUTO_LENGTH, &argv[0]) == napi_ok &&
        napi_create_buffer_copy(env, (size_t)len - off, s->buf + off, &copy, &argv[1]) == napi_ok) {
      handle_call(base, 2, argv);
    }
    NAPI_REPORT(env, napi_close_handle_scope(env, scope));
  }
}

static napi_value raw_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  sock_handle* base = handle_from_info(env, info, &argc, argv, true);
  if (!base) return NULL;
  raw_sock* s = (raw_sock*)base;
  if (argc < 2) return throw_usage(env, SEND_USAGE);
  char dst[INET6_ADDRSTRLEN + 1];
  size_t dstlen = 0;
  if (napi_get_value_string_utf8(env, argv[0], dst, sizeof dst, &dstlen) != napi_ok)
    return throw_usage(env, SEND_USAGE);
  void* data = NULL;
  size_t datalen = 0;
  bool is_buf = false, is_ta = false;
  NAPI_CHECK(env, napi_is_buffer(env, argv[1], &is_buf), NULL);
  if (is_buf) {
    NAPI_CHECK(env, napi_get_buffer_info(env, argv[1], &data, &datalen), NULL);
  } else {
    NAPI_CHECK(env, napi_is_typedarray(env, argv[1], &is_ta), NULL);
    napi_typedarray_type type;
    if (!is_ta) return throw_usage(env, SEND_USAGE);
    NAPI_CHECK(env, napi_get_typedarray_info(env, argv[1], &type, &datalen, &data, NULL, NULL), NULL);
    if (type != napi_uint8_array) return throw_usage(env, SEND_USAGE);
  }
  struct sockaddr_storage to;
  memset(&to, 0, sizeof to);
  socklen_t tolen;
  if (s->family == AF_INET) {
    struct sockaddr_in* sin = (struct sockaddr_in*)&to;
    sin->sin_family = AF_INET;
    if (inet_pton(AF_INET, dst, &sin->sin_addr) != 1) return throw_usage(env, SEND_USAGE);
    tolen = sizeof *sin;
  } else {
    struct sockaddr_in6* sin6 = (struct sockaddr_in6*)&to;
    sin6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, dst, &sin6->sin6_addr) != 1) return throw_usage(env, SEND_USAGE);
    tolen = sizeof *sin6;
  }
  ssize_t n;
  do {
    n = sendto(base->fd, data, datalen, 0, (struct sockaddr*)&to, tolen);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "sendto", errno, dst);
  return NULL;
}

static napi_value raw_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  sock_handle* base = handle_from_info(env, info, &argc, NULL, false);
  if (base) handle_close(base);
  return NULL;
}

napi_value rawsock_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  if (argc < 3) return throw_usage(env, RAW_USAGE);
  int32_t family = 0, protocol = 0;
  napi_valuetype t;
  if (napi_get_value_int32(env, argv[0], &family) != napi_ok || (family != 4 && family != 6))
    return throw_usage(env, RAW_USAGE);
  if (napi_get_value_int32(env, argv[1], &protocol) != napi_ok || protocol < 1 || protocol > 255)
    return throw_usage(env, RAW_USAGE);
  NAPI_CHECK(env, napi_typeof(env, argv[2], &t), NULL);
  if (t != napi_function) return throw_usage(env, RAW_USAGE);

  int af = family == 4 ? AF_INET : AF_INET6;
  int fd = socket(af, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return throw_errno(env, "socket", errno, family == 4 ? "AF_INET, SOCK_RAW" : "AF_INET6, SOCK_RAW");
  raw_sock* s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM, NULL);
  }
  s->family = af;
  s->h.on_readable = raw_readable;
  napi_value obj;
  // From here the handle owns fd and s: handle_close releases both on any failure.
  if (!handle_start(env, &s->h, fd, argv[2], "netpol:rawsocket") ||
      napi_create_object(env, &obj) != napi_ok ||
      !handle_method(env, obj, "send", raw_send, &s->h) ||
      !handle_method(env, obj, "close", raw_close, &s->h)) {
    handle_close(&s->h);
    return NULL;
  }
  return obj;
}
