// Module entry: per-environment instance data and the exported functions.
#include "common.h"

#include <stdlib.h>

static void data_finalize(napi_env env, void* data, void* hint) {
  addon_data* d = (addon_data*)data;
  if (d->error_ctor) napi_delete_reference(env, d->error_ctor);
  free(d);
}

// setErrorClass(ctor): the loader registers its NativeError class once per environment.
static napi_value set_error_class(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype t;
  NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  if (argc < 1) return throw_usage(env, "setErrorClass(ctor: new (message, syscall, errno) => Error)");
  NAPI_CHECK(env, napi_typeof(env, argv[0], &t), NULL);
  if (t != napi_function) return throw_usage(env, "setErrorClass(ctor: new (message, syscall, errno) => Error)");
  addon_data* d = NULL;
  NAPI_CHECK(env, napi_get_instance_data(env, (void**)&d), NULL);
  if (d->error_ctor) NAPI_CHECK(env, napi_delete_reference(env, d->error_ctor), NULL);
  d->error_ctor = NULL;
  NAPI_CHECK(env, napi_create_reference(env, argv[0], 1, &d->error_ctor), NULL);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  addon_data* d = calloc(1, sizeof *d);
  if (!d) {
    napi_throw_error(env, NULL, "netpol native: out of memory");
    return NULL;
  }
  napi_status st = napi_set_instance_data(env, d, data_finalize, NULL);
  if (st != napi_ok) {
    free(d);
    return throw_napi(env, st, "napi_set_instance_data");
  }
  napi_property_descriptor props[] = {
    {"setErrorClass", NULL, set_error_class, NULL, NULL, NULL, napi_enumerable, NULL},
    {"openRawSocket", NULL, rawsock_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"openQueue", NULL, nfq_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"conntrackDump", NULL, ct_dump_js, NULL, NULL, NULL, napi_enumerable, NULL},
    {"conntrackDelete", NULL, ct_delete_js, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CHECK(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props), NULL);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
