{
  "targets": [
    {
      "target_name": "netpol_native",
      "sources": ["src/addon.c", "src/errors.c", "src/handle.c", "src/rawsock.c", "src/nfq.c", "src/nfq_msg.c", "src/ctnl.c", "src/ctnl_msg.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-lmnl"]
    }
  ]
}
