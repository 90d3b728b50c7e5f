// Shared declarations of the addon. No globals anywhere: per-environment state lives in
// `addon_data` (napi instance data), per-socket state in the structs of handle.h.
#ifndef NETPOL_COMMON_H
#define NETPOL_COMMON_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  napi_ref error_ctor; // the TS NativeError class, set once per environment by the loader
} addon_data;

// Throws TypeError("<usage>") and returns NULL, for argument checks.
napi_value throw_usage(napi_env env, const char* usage);
// Throws NativeError(message, syscall, errno) (plain Error with the same fields before the class
// is registered). `what` adds context to the message, e.g. "queue 3"; may be NULL.
napi_value throw_errno(napi_env env, const char* syscall, int err, const char* what);
// Throws an Error describing a failed napi call unless an exception is already pending.
napi_value throw_napi(napi_env env, napi_status status, const char* call);

// Check a napi_status; on failure throw and return `ret` from the enclosing function.
#define NAPI_CHECK(env, call, ret)                   \
  do {                                               \
    napi_status status_ = (call);                    \
    if (status_ != napi_ok) {                        \
      throw_napi((env), status_, #call);             \
      return ret;                                    \
    }                                                \
  } while (0)

// For contexts that cannot throw (uv callbacks, finalizers): report and carry on.
#define NAPI_REPORT(env, call)                       \
  do {                                               \
    napi_status status_ = (call);                    \
    if (status_ != napi_ok) napi_report_status((env), status_, #call); \
  } while (0)
void napi_report_status(napi_env env, napi_status status, const char* call);

napi_value rawsock_open(napi_env env, napi_callback_info info);
napi_value nfq_open(napi_env env, napi_callback_info info);
napi_value ct_dump_js(napi_env env, napi_callback_info info);
napi_value ct_delete_js(napi_env env, napi_callback_info info);

#endif
