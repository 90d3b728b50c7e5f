// Error helpers: TypeError for bad arguments, NativeError (syscall + errno) for kernel errors.
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

napi_value throw_usage(napi_env env, const char* usage) {
  napi_throw_type_error(env, "ERR_INVALID_ARG", usage);
  return NULL;
}

static napi_value make_errno_error(napi_env env, const char* syscall, int err, const char* what) {
  char msg[256];
  if (what && *what)
    snprintf(msg, sizeof msg, "%s (%s): %s", syscall, what, strerror(err));
  else
    snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value jmsg, jsys, jerrno, error = NULL;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &jsys) != napi_ok) return NULL;
  if (napi_create_int32(env, err, &jerrno) != napi_ok) return NULL;

  addon_data* data = NULL;
  napi_value ctor = NULL;
  if (napi_get_instance_data(env, (void**)&data) == napi_ok && data && data->error_ctor &&
      napi_get_reference_value(env, data->error_ctor, &ctor) == napi_ok && ctor) {
    napi_value argv[3] = {jmsg, jsys, jerrno};
    if (napi_new_instance(env, ctor, 3, argv, &error) == napi_ok) return error;
    return NULL; // the constructor threw: that exception is pending
  }
  if (napi_create_error(env, NULL, jmsg, &error) != napi_ok) return NULL;
  if (napi_set_named_property(env, error, "syscall", jsys) != napi_ok) return NULL;
  if (napi_set_named_property(env, error, "errno", jerrno) != napi_ok) return NULL;
  return error;
}

napi_value throw_errno(napi_env env, const char* syscall, int err, const char* what) {
  napi_value error = make_errno_error(env, syscall, err, what);
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return NULL;
  if (error) napi_throw(env, error);
  else napi_throw_error(env, NULL, "netpol native: could not build NativeError");
  return NULL;
}

napi_value throw_napi(napi_env env, napi_status status, const char* call) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return NULL;
  const napi_extended_error_info* info = NULL;
  char msg[256];
  napi_get_last_error_info(env, &info);
  snprintf(msg, sizeof msg, "%s failed: %s", call,
           info && info->error_message ? info->error_message : "napi error");
  napi_throw_error(env, NULL, msg);
  return NULL;
}

void napi_report_status(napi_env env, napi_status status, const char* call) {
  // Nothing to throw into here (uv callback or finalizer): make it visible instead of silent.
  fprintf(stderr, "netpol native: %s failed (napi_status %d)\n", call, (int)status);
}
