# SPDX-License-Identifier: Apache-2.0
# The fuzz targets: tests/fuzz/<name>.cpp builds fuzz_<name>, seeded from corpus/<name>/,
# with regression inputs in regressions/<name>/. Included by the fuzz project
# (CMakeLists.txt) and by the main tree's ctest definitions (ci.cmake).
set(LUO_FUZZ_TARGETS
  model_request
  model_ioctl
  handover
  manifest
  manifest_store
  config
  names
  method_options)

# The largest input libFuzzer makes (-max_len), where 4096 is not right: a handover is at
# least one 4 KiB page per block, a manifest store a header page and two slots.
set(LUO_FUZZ_MAX_LEN_model_request 4200)
set(LUO_FUZZ_MAX_LEN_model_ioctl 8192)
set(LUO_FUZZ_MAX_LEN_handover 32768)
set(LUO_FUZZ_MAX_LEN_manifest 16384)
set(LUO_FUZZ_MAX_LEN_manifest_store 20480)
set(LUO_FUZZ_MAX_LEN_config 4096)
set(LUO_FUZZ_MAX_LEN_names 1024)
set(LUO_FUZZ_MAX_LEN_method_options 2048)
