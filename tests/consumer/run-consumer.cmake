# SPDX-License-Identifier: Apache-2.0
# The packaging test of libluo: stages the libluo and libluo-dev components of a luod build
# into WORK_DIR/root (DESTDIR, as a package build does, so the CMake package and luo.pc are
# exactly what a package ships), then configures, builds and runs tests/consumer/project
# against that copy only, with find_package (MODE cmake) or pkg-config (MODE pkgconfig).
#   cmake -DBUILD_DIR=... -DINSTALL_PREFIX=... -DINSTALL_LIBDIR=... -DPROJECT_DIR=...
#         -DWORK_DIR=... -DMODE=cmake|pkgconfig [-DCXX_COMPILER=...] [-DCXX_FLAGS=...]
#         -P run-consumer.cmake
foreach(var BUILD_DIR INSTALL_PREFIX INSTALL_LIBDIR PROJECT_DIR WORK_DIR MODE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run-consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " cmd)
    message(FATAL_ERROR "failed (${rc}): ${cmd}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(root ${WORK_DIR}/root)
set(ENV{DESTDIR} ${root})
foreach(component libluo libluo-dev)
  run(${CMAKE_COMMAND} --install ${BUILD_DIR} --component ${component})
endforeach()
unset(ENV{DESTDIR})

set(prefix ${root}${INSTALL_PREFIX})
if(IS_ABSOLUTE "${INSTALL_LIBDIR}")
  set(libdir ${root}${INSTALL_LIBDIR})
else()
  set(libdir ${prefix}/${INSTALL_LIBDIR})
endif()
if(MODE STREQUAL "cmake")
  set(args -DCMAKE_PREFIX_PATH=${prefix} -DLUO_CONSUMER_PKGCONFIG=OFF)
elseif(MODE STREQUAL "pkgconfig")
  # luo.pc names its final location (prefix=/usr...); the sysroot maps it into the staging root.
  set(ENV{PKG_CONFIG_PATH} ${libdir}/pkgconfig)
  set(ENV{PKG_CONFIG_SYSROOT_DIR} ${root})
  set(args -DLUO_CONSUMER_PKGCONFIG=ON)
else()
  message(FATAL_ERROR "run-consumer.cmake: MODE must be cmake or pkgconfig, not ${MODE}")
endif()
if(CXX_COMPILER)
  list(APPEND args -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()
if(CXX_FLAGS)
  list(APPEND args "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${CXX_FLAGS}")
endif()
# Nothing from the luod build may leak in: a fresh project, its own cache, no package registry.
run(${CMAKE_COMMAND} -S ${PROJECT_DIR} -B ${WORK_DIR}/build -DLUO_CONSUMER_EXPECT_ROOT=${root}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF ${args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)

# In sanitizer builds: a known leak of sdbus-c++ 1.2, not libluo's (see lsan.supp).
set(ENV{LSAN_OPTIONS} "suppressions=${CMAKE_CURRENT_LIST_DIR}/../sanitizers/lsan.supp:print_suppressions=0")
execute_process(COMMAND ${WORK_DIR}/build/luo-consumer RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "luo-consumer failed (${rc})")
endif()
string(REGEX MATCH "loaded ([^\n]*)" _ "${out}")
string(FIND "${CMAKE_MATCH_1}" "${root}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "luo-consumer loaded libluo from '${CMAKE_MATCH_1}', not from the staged copy in ${root}")
endif()
