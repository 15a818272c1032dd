# SPDX-License-Identifier: Apache-2.0
# The fuzz targets as ctest tests, label "fuzz". Included from tests/CMakeLists.txt:
#   include(${CMAKE_CURRENT_SOURCE_DIR}/fuzz/ci.cmake)
#
#   fuzz-build        builds the fuzz tree (clang) in <build>/fuzz; a fixture of the others
#   fuzz-<target>     scripts/fuzz.sh --seconds 60 <target>, one per target
#   fuzz-regressions  replays every seed and tests/fuzz/regressions input once
#
# fuzz-build does the build up front (so its time is all fuzzing); each test still
# runs fuzz.sh's incremental build, a no-op then, serialized by a lock in the build tree.
# A run is bounded in time, not in work: ctest runs as many at once as it has free slots,
# beside the rest of the suite, and each gets what CPU is left. Without clang they fail
# (scripts/install-deps.sh test installs it). Run only these: ctest -L fuzz; the rest: ctest -LE fuzz.
include(${CMAKE_CURRENT_LIST_DIR}/targets.cmake)

set(LUO_FUZZ_SCRIPT ${PROJECT_SOURCE_DIR}/scripts/fuzz.sh)
set(LUO_FUZZ_BUILD_DIR ${PROJECT_BINARY_DIR}/fuzz)
set(LUO_FUZZ_SECONDS 60 CACHE STRING "How long ctest fuzzes each target (seconds)")

add_test(NAME fuzz-build COMMAND ${LUO_FUZZ_SCRIPT} --build-dir ${LUO_FUZZ_BUILD_DIR} --build-only)
set_tests_properties(fuzz-build PROPERTIES
  LABELS fuzz
  FIXTURES_SETUP luo-fuzz-build
  PROCESSORS 2
  TIMEOUT 1200)

foreach(target IN LISTS LUO_FUZZ_TARGETS)
  add_test(NAME fuzz-${target}
           COMMAND ${LUO_FUZZ_SCRIPT} --build-dir ${LUO_FUZZ_BUILD_DIR} --seconds ${LUO_FUZZ_SECONDS} ${target})
  set_tests_properties(fuzz-${target} PROPERTIES
    LABELS fuzz
    FIXTURES_REQUIRED luo-fuzz-build
    TIMEOUT 600)
endforeach()

add_test(NAME fuzz-regressions COMMAND ${LUO_FUZZ_SCRIPT} --build-dir ${LUO_FUZZ_BUILD_DIR} --replay)
set_tests_properties(fuzz-regressions PROPERTIES
  LABELS fuzz
  FIXTURES_REQUIRED luo-fuzz-build
  TIMEOUT 300)
