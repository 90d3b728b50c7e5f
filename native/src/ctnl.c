// conntrackDump / conntrackDelete: ctnetlink work on a libuv pool thread (a dump of a large table
// or thousands of deletions must not stall the packet loop), settled as a Promise.
#include "ctnl.h"
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DUMP_USAGE "conntrackDump(family: 0 | 4 | 6): Promise<Buffer>"
#define DELETE_USAGE "conntrackDelete(records: Uint8Array /* count * CT_RECORD_SIZE bytes */, count: number): Promise<{deleted, missing, failed, lastErrno}>"

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  bool is_delete;
  int family;            // dump
  ct_records recs;       // dump: the result; delete: a copy of the requests
  ct_delete_counts counts;
  int err;
  const char* syscall;
} ct_job;

static void job_free(napi_env env, ct_job* job) {
  if (job->work) NAPI_REPORT(env, napi_delete_async_work(env, job->work));
  free(job->recs.data);
  free(job);
}

static void job_execute(napi_env env, void* data) {
  ct_job* job = data;
  job->err = job->is_delete ? ct_delete(job->recs.data, job->recs.count, &job->counts, &job->syscall)
                            : ct_dump(job->family, &job->recs, &job->syscall);
}

static bool set_u32(napi_env env, napi_value obj, const char* name, uint32_t v) {
  napi_value n;
  return napi_create_uint32(env, v, &n) == napi_ok && napi_set_named_property(env, obj, name, n) == napi_ok;
}

// Builds the settled value; on failure leaves an exception pending (NativeError or napi error).
static napi_value job_result(napi_env env, ct_job* job) {
  napi_value result = NULL;
  if (job->err) {
    throw_errno(env, job->syscall, job->err, job->is_delete ? "conntrack delete" : "conntrack dump");
    return NULL;
  }
  if (job->is_delete) {
    if (napi_create_object(env, &result) != napi_ok ||
        !set_u32(env, result, "deleted", job->counts.deleted) || !set_u32(env, result, "missing", job->counts.missing) ||
        !set_u32(env, result, "failed", job->counts.failed) || !set_u32(env, result, "lastErrno", (uint32_t)job->counts.last_errno)) {
      throw_napi(env, napi_generic_failure, "conntrackDelete result");
      return NULL;
    }
    return result;
  }
  void* copy;
  size_t len = job->recs.count * CT_REC;
  napi_status st = len ? napi_create_buffer_copy(env, len, job->recs.data, &copy, &result) : napi_create_buffer(env, 0, &copy, &result);
  if (st != napi_ok) {
    throw_napi(env, st, "napi_create_buffer_copy");
    return NULL;
  }
  return result;
}

static void job_complete(napi_env env, napi_status status, void* data) {
  ct_job* job = data;
  if (status == napi_cancelled || !env) {  // environment shutting down: nobody to tell
    job_free(env, job);
    return;
  }
  napi_value value = job_result(env, job);
  if (value) {
    NAPI_REPORT(env, napi_resolve_deferred(env, job->deferred, value));
  } else {
    napi_value error = NULL;
    if (napi_get_and_clear_last_exception(env, &error) != napi_ok || !error)
      NAPI_REPORT(env, napi_get_undefined(env, &error));
    NAPI_REPORT(env, napi_reject_deferred(env, job->deferred, error));
  }
  job_free(env, job);
}

static napi_value job_start(napi_env env, ct_job* job, const char* name) {
  napi_value promise, resource;
  napi_status st = napi_create_promise(env, &job->deferred, &promise);
  if (st == napi_ok) st = napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  if (st == napi_ok) st = napi_create_async_work(env, NULL, resource, job_execute, job_complete, job, &job->work);
  if (st == napi_ok) st = napi_queue_async_work(env, job->work);
  if (st != napi_ok) {
    // The deferred (if made) is dropped with its promise; the caller gets the exception instead.
    job_free(env, job);
    return throw_napi(env, st, "queue conntrack work");
  }
  return promise;
}

napi_value ct_dump_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t family = -1;
  NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &family) != napi_ok || (family != 0 && family != 4 && family != 6))
    return throw_usage(env, DUMP_USAGE);
  ct_job* job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, "calloc", ENOMEM, NULL);
  job->family = family;
  return job_start(env, job, "netpol:conntrackDump");
}

napi_value ct_delete_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), NULL);
  if (argc < 2) return throw_usage(env, DELETE_USAGE);
  bool is_ta = false;
  NAPI_CHECK(env, napi_is_typedarray(env, argv[0], &is_ta), NULL);
  if (!is_ta) return throw_usage(env, DELETE_USAGE);
  napi_typedarray_type type;
  size_t len = 0;
  void* bytes = NULL;
  NAPI_CHECK(env, napi_get_typedarray_info(env, argv[0], &type, &len, &bytes, NULL, NULL), NULL);
  uint32_t count = 0;
  if (type != napi_uint8_array || napi_get_value_uint32(env, argv[1], &count) != napi_ok || (size_t)count * CT_REC > len)
    return throw_usage(env, DELETE_USAGE);
  for (uint32_t i = 0; i < count; i++) {
    uint8_t fam = ((uint8_t*)bytes)[(size_t)i * CT_REC + CT_OFF_FAMILY];
    if (fam != 4 && fam != 6) return throw_usage(env, DELETE_USAGE " (record family must be 4 or 6)");
  }
  ct_job* job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, "calloc", ENOMEM, NULL);
  job->is_delete = true;
  // A copy: the pool thread must not read a buffer JS may change or free meanwhile.
  job->recs.count = job->recs.cap = count;
  if (count && !(job->recs.data = malloc((size_t)count * CT_REC))) {
    free(job);
    return throw_errno(env, "malloc", ENOMEM, NULL);
  }
  if (count) memcpy(job->recs.data, bytes, (size_t)count * CT_REC);
  return job_start(env, job, "netpol:conntrackDelete");
}
