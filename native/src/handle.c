#include "handle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void handle_release(sock_handle* h) {
  if (--h->refs > 0) return;
  if (h->on_free) h->on_free(h);
  free(h);
}

static void method_finalize(napi_env env, void* data, void* hint) {
  handle_release((sock_handle*)data);
}

static void poll_closed(uv_handle_t* uvh) {
  sock_handle* h = (sock_handle*)uvh->data;
  if (h->fd >= 0 && close(h->fd) != 0) {
    // Nothing to throw into; the fd is gone either way (close never retries on Linux).
  }
  h->fd = -1;
  if (h->cleanup_running) {
    // Env teardown waits for this before closing the loop (worker threads assert on open handles).
    napi_remove_async_cleanup_hook(h->cleanup_running);
    h->cleanup_running = NULL;
  }
  handle_release(h);
}

static void poll_cb(uv_poll_t* p, int status, int events) {
  sock_handle* h = (sock_handle*)p->data;
  if (h->closed) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(h->env, &scope) != napi_ok) return;
  // With status < 0 (POLLERR: netlink ENOBUFS, an ICMP error on a raw socket) libuv has stopped the
  // handle. The drain reads (and so clears) the pending socket error; then polling resumes. Ignoring
  // it would leave the queue deaf after its first overrun.
  h->on_readable(h);
  NAPI_REPORT(h->env, napi_close_handle_scope(h->env, scope));
  if (status < 0 && !h->closed) {
    int rc = uv_poll_start(&h->poll, UV_READABLE, poll_cb);
    if (rc != 0) fprintf(stderr, "netpol native: uv_poll_start after a socket error: %s\n", uv_strerror(rc));
  }
}

static void close_common(sock_handle* h) {
  h->closed = true;
  if (h->on_close) h->on_close(h);
  if (h->callback) {
    NAPI_REPORT(h->env, napi_delete_reference(h->env, h->callback));
    h->callback = NULL;
  }
  if (h->async_ctx) {
    NAPI_REPORT(h->env, napi_async_destroy(h->env, h->async_ctx));
    h->async_ctx = NULL;
  }
  if (h->poll_active) {
    uv_poll_stop(&h->poll);
    uv_close((uv_handle_t*)&h->poll, poll_closed);  // fd closed and ref released there
  } else {
    if (h->fd >= 0) close(h->fd);
    h->fd = -1;
    handle_release(h);
  }
}

static void env_cleanup(napi_async_cleanup_hook_handle hook, void* arg) {
  sock_handle* h = (sock_handle*)arg;
  h->cleanup = NULL;
  if (h->closed) {  // cannot happen (close removes the hook), but never leave teardown waiting
    napi_remove_async_cleanup_hook(hook);
    return;
  }
  h->cleanup_running = hook;
  if (!h->poll_active) {
    h->cleanup_running = NULL;
    napi_remove_async_cleanup_hook(hook);
  }
  close_common(h);
}

void handle_close(sock_handle* h) {
  if (h->closed) return;
  if (h->cleanup) {
    NAPI_REPORT(h->env, napi_remove_async_cleanup_hook(h->cleanup));
    h->cleanup = NULL;
  }
  close_common(h);
}

bool handle_start(napi_env env, sock_handle* h, int fd, napi_value callback, const char* name) {
  h->env = env;
  h->fd = fd;
  h->refs = 1;  // the uv handle (or, before it exists, the open socket)
  uv_loop_t* loop = NULL;
  NAPI_CHECK(env, napi_create_reference(env, callback, 1, &h->callback), false);
  napi_value resource_name;
  NAPI_CHECK(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name), false);
  NAPI_CHECK(env, napi_async_init(env, NULL, resource_name, &h->async_ctx), false);
  NAPI_CHECK(env, napi_get_uv_event_loop(env, &loop), false);
  int rc = uv_poll_init(loop, &h->poll, fd);
  if (rc != 0) {
    throw_errno(env, "uv_poll_init", -rc, name);
    return false;
  }
  h->poll.data = h;
  h->poll_active = true;
  rc = uv_poll_start(&h->poll, UV_READABLE, poll_cb);
  if (rc != 0) {
    throw_errno(env, "uv_poll_start", -rc, name);
    return false;
  }
  NAPI_CHECK(env, napi_add_async_cleanup_hook(env, env_cleanup, h, &h->cleanup), false);
  return true;
}

bool handle_method(napi_env env, napi_value obj, const char* name, napi_callback cb, sock_handle* h) {
  napi_value fn;
  NAPI_CHECK(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, h, &fn), false);
  NAPI_CHECK(env, napi_add_finalizer(env, fn, h, method_finalize, NULL, NULL), false);
  h->refs++;
  NAPI_CHECK(env, napi_set_named_property(env, obj, name, fn), false);
  return true;
}

bool handle_call(sock_handle* h, size_t argc, napi_value* argv) {
  napi_env env = h->env;
  napi_value fn, recv, result;
  if (!h->callback) return false;
  if (napi_get_reference_value(env, h->callback, &fn) != napi_ok || !fn) return false;
  if (napi_get_global(env, &recv) != napi_ok) return false;  // make_callback needs an object
  napi_status st = napi_make_callback(env, h->async_ctx, recv, fn, argc, argv, &result);
  if (st == napi_ok) return true;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  } else {
    napi_report_status(env, st, "napi_make_callback");
  }
  return false;
}

sock_handle* handle_from_info(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv,
                              bool need_open) {
  void* data = NULL;
  NAPI_CHECK(env, napi_get_cb_info(env, info, argc, argv, NULL, &data), NULL);
  sock_handle* h = (sock_handle*)data;
  if (need_open && h->closed) {
    throw_errno(env, "socket", EBADF, "already closed");
    return NULL;
  }
  return h;
}
