{
  "targets": [
    {
      "target_name": "mmstats_native",
      "sources": ["native/mmstats.c"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["OS=='linux'", {
          "cflags": ["-Wall", "-Wextra"],
          "cflags_c": ["-std=gnu11"],
          "configurations": {
            "Release": { "cflags!": ["-O3"], "cflags": ["-O2"] }
          }
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_C_LANGUAGE_STANDARD": "gnu11",
            "WARNING_CFLAGS": ["-Wall", "-Wextra"]
          },
          "configurations": {
            "Release": { "xcode_settings": { "GCC_OPTIMIZATION_LEVEL": "2" } }
          }
        }],
        ["OS!='linux' and OS!='mac'", {
          "defines": ["MMSTATS_UNSUPPORTED_OS"]
        }]
      ]
    }
  ]
}
