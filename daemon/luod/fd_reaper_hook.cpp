// SPDX-License-Identifier: Apache-2.0
// The close guard of fd_reaper.h put in place of libc's close(): linked into the luod
// executable only (never into luod-core, which tests and fuzz targets link). The
// executable's definition comes first in symbol lookup, so sd-bus, sd-event and sdbus-c++
// call this one too.
#include "fd_reaper.h"

extern "C" int close(int fd) { return luod::close_guard::close(fd); }
