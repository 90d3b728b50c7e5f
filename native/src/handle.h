// A socket watched by uv_poll and exposed to JS as an object of methods. Shared by the raw IP
// socket and the NFQUEUE socket (each embeds `sock_handle` as its first member).
//
// Lifetime: `refs` counts the JS method functions still alive (their finalizers release) plus one
// for the uv handle until its uv_close callback ran. The struct is freed when it drops to zero, so
// a method kept after close() or a late poll callback never touches freed memory.
#ifndef NETPOL_HANDLE_H
#define NETPOL_HANDLE_H

#include "common.h"
#include <uv.h>

typedef struct sock_handle sock_handle;
struct sock_handle {
  napi_env env;
  uv_poll_t poll;
  int fd;
  int refs;
  bool poll_active;   // uv_poll_init succeeded: a uv_close is owed
  bool closed;        // close() started; methods throw, readable events are ignored
  napi_async_cleanup_hook_handle cleanup;
  napi_async_cleanup_hook_handle cleanup_running; // set while the env teardown hook runs
  napi_async_context async_ctx;
  napi_ref callback;
  void (*on_readable)(sock_handle* h);  // called inside a handle scope
  void (*on_close)(sock_handle* h);     // before the fd is closed (e.g. unbind the queue)
  void (*on_free)(sock_handle* h);      // frees what the embedding struct owns
};

// Starts polling `fd` and registers the env cleanup hook. On failure throws (fd is not closed).
bool handle_start(napi_env env, sock_handle* h, int fd, napi_value callback, const char* name);
// Adds a method `name` to `obj` whose napi data is `h` (keeps `h` alive while the function is).
bool handle_method(napi_env env, napi_value obj, const char* name, napi_callback cb, sock_handle* h);
// Stops polling and closes the socket (idempotent). Safe to call from inside the JS callback.
void handle_close(sock_handle* h);
// Calls the JS callback; an exception goes to process 'uncaughtException'. False if it threw.
bool handle_call(sock_handle* h, size_t argc, napi_value* argv);
// Fetches the method's `h` and `argc` args; throws on a closed handle when `need_open`.
sock_handle* handle_from_info(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv,
                              bool need_open);
void handle_release(sock_handle* h);

#endif
