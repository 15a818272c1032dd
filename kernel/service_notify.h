// SPDX-License-Identifier: Apache-2.0
// Readiness for a service manager ($NOTIFY_SOCKET, the sd_notify protocol: one datagram of
// newline-separated KEY=VALUE assignments). Written here rather than linked from libsystemd
// so that the model, a stand-in for the kernel, loads no D-Bus library.
#pragma once

#include <string_view>

namespace luo::kmodel {

// Sends `state` to $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). Does
// nothing without the variable; a failure is ignored, as readiness is advisory.
void notify_service_manager(std::string_view state) noexcept;

}  // namespace luo::kmodel
