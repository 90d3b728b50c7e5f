#include "common.h"
#include <errno.h>
napi_value nfq_open(napi_env env, napi_callback_info info) { return throw_errno(env, "openQueue", ENOSYS, "not yet"); }
