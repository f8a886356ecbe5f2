# Kept for tools that expect a binding.gyp. The real build is CMakeLists.txt via cmake-js
# (`npm run build:native`), which adds the CUDA kernels; this file builds the CPU backend only.
{
  "targets": [
    {
      "target_name": "mathrl",
      "sources": [
        "native/bench/openblas_peer.cc",
        "<!@(node -e \"for (const d of ['native/binding', 'native/cpu']) for (const f of require('fs').readdirSync(d)) if (/\\.(cc|cpp)$/.test(f)) console.log(d + '/' + f)\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
      "libraries": ["-ldl", "-lpthread"]
    }
  ]
}
