// SPDX-License-Identifier: Apache-2.0
// The polkit actions of luod's root-only members (dbus/org.luod.LiveUpdate1.policy). By
// default polkit grants none of them to anyone but root; an administrator delegates them with
// a polkit rule. polkit_authority.h asks polkit. LogControl1's writes (dbus_log_control.h) have
// no action: sd-bus sets properties synchronously, and luod never waits for polkit.
#pragma once

#include <string>

namespace luod {

namespace polkit_action {
inline constexpr const char* kLoadKernel = "org.luod.LiveUpdate1.load-kernel";          // LoadKernel, UnloadKernel
inline constexpr const char* kUpdate = "org.luod.LiveUpdate1.update";                   // Update, Cancel
inline constexpr const char* kInhibitBlock = "org.luod.LiveUpdate1.inhibit-block";      // Inhibit(mode "block")
inline constexpr const char* kListInhibitors = "org.luod.LiveUpdate1.list-inhibitors";  // ListInhibitors
}  // namespace polkit_action

// The refusal of a root-only `what` ("load a kernel") to anyone polkit did not allow `action`.
inline std::string not_allowed(const std::string& what, const char* action)
{
    return "only root may " + what + ", or a caller polkit allows " + action;
}

}  // namespace luod
