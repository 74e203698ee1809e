{
  # node-gyp build (`npm run build:gyp`); the same sources, libtorch discovery and flags as
  # CMakeLists.txt: C++20 where libtorch's headers need it, libtorch's and CUDA's headers as system
  # headers (-isystem), torch_cuda linked --no-as-needed so its kernels register.
  "targets": [
    {
      "target_name": "msam",
      "sources": [
        "csrc/addon.cc", "csrc/autograd.cc", "csrc/convert.cc", "csrc/errors.cc",
        "csrc/distributed/bindings.cc", "csrc/distributed/group.cc", "csrc/distributed/reduce.cc",
        "csrc/hessian/bindings.cc", "csrc/hessian/eigen.cc", "csrc/hessian/landscape.cc", "csrc/hessian/m_sharpness.cc",
        "csrc/hessian/trace.cc",
        "csrc/ops.cc", "csrc/runtime.cc", "csrc/tensor.cc", "csrc/worker.cc",
        "csrc/msam/bindings.cc", "csrc/msam/bookkeeping.cc", "csrc/msam/graph.cc", "csrc/msam/loop.cc", "csrc/msam/loss.cc", "csrc/msam/shard_stats.cc", "csrc/msam/step.cc", "csrc/msam/support.cc", "csrc/msam/vectorized.cc",
        "csrc/nn/bindings.cc", "csrc/nn/grouped.cc", "csrc/nn/layers.cc", "csrc/nn/module.cc", "csrc/nn/options.cc",
        "csrc/nn/transformer.cc",
        "csrc/optim/adamw.cc", "csrc/optim/binding.cc", "csrc/optim/clip_grad.cc", "csrc/optim/optimizer.cc",
        "csrc/optim/sgd.cc",
        "csrc/profile/op_count.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "csrc"
      ],
      "defines": [
        "NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED",
        "<!@(node scripts/find-libtorch.js --defines)"
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++20", "-std=gnu++17", "-std=gnu++14"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["<!@(node scripts/find-libtorch.js --cflags)", "-fexceptions", "-frtti", "-O2"],
      "libraries": [
        "-L<!(node scripts/find-libtorch.js --libdir)",
        "-Wl,-rpath,<!(node scripts/find-libtorch.js --rpath)",
        "<!@(node scripts/find-libtorch.js --libs)"
      ]
    }
  ]
}
