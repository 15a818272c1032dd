# SPDX-License-Identifier: Apache-2.0
# Catch2 for the test programs: version 3 (Debian 13, sid) or 2.13 (Debian 12). Each version's
# CMake package accepts only its own major version, so ask for 3 first, then for 2.13. Test
# programs link luo-catch2 (Catch2's main included) and include "luo_catch.h", the one place
# where the two versions' headers and names differ.
find_package(Catch2 3 QUIET)
if(NOT Catch2_FOUND)
  find_package(Catch2 2.13 REQUIRED)
endif()
include(Catch)
message(STATUS "Catch2 ${Catch2_VERSION}")

# Arguments for every discovered test (catch_discover_tests EXTRA_ARGS): a run that matches
# no test must fail, not pass silently. Catch2 2 needs --warn NoTests for that; Catch2 3 fails
# such a run by itself and rejects NoTests as an unknown warning.
if(Catch2_VERSION_MAJOR EQUAL 2)
  set(LUO_CATCH2_TEST_ARGS --warn NoTests)
else()
  set(LUO_CATCH2_TEST_ARGS)
endif()

add_library(luo-catch2 INTERFACE)
target_link_libraries(luo-catch2 INTERFACE Catch2::Catch2WithMain)
target_include_directories(luo-catch2 INTERFACE ${PROJECT_SOURCE_DIR}/tests/catch2)
target_compile_definitions(luo-catch2 INTERFACE LUO_CATCH2_MAJOR=${Catch2_VERSION_MAJOR})
