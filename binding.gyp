# Optional native BLAKE3 kernel (Node-API addon, C only): src/blake3/native/.
# Built by scripts/build-native.mjs (never fails the install; the WASM kernel is the fallback).
{
  "targets": [
    {
      "target_name": "blake3_native",
      "sources": ["src/blake3/native/blake3_native.c"],
      "include_dirs": ["src/blake3/native"],
      "cflags!": ["-O2", "-O0", "-Os"],
      "cflags": ["-O3", "-fno-strict-aliasing"],
      "cflags_c": ["-O3"],
      "xcode_settings": {
        "GCC_OPTIMIZATION_LEVEL": "3",
        "OTHER_CFLAGS": ["-O3"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "Optimization": 2 }
      }
    }
  ]
}
