{
  "targets": [
    {
      "target_name": "d2c_native",
      "sources": [
        "addon.cc", "convert.cc", "fast_ops.cc", "profiler.cc", "cpu_cache.cc",
        "<!@(node -p \"process.env.D2C_DIST_SOURCE || 'distributed_stub.cc'\")"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": [
        "-std=c++20", "-fexceptions", "-frtti", "-O2", "-Wall", "-Wextra",
        "<!@(node -p \"process.env.D2C_TORCH_INCLUDES || ''\")",
        "-D_GLIBCXX_USE_CXX11_ABI=<!(node -p \"process.env.D2C_CXX11_ABI || '1'\")",
        "<!@(node -p \"process.env.D2C_DIST_FLAGS || ''\")"
      ],
      "libraries": ["<!@(node -p \"process.env.D2C_TORCH_LIBS || ''\")"]
    }
  ]
}
