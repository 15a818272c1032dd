// SPDX-License-Identifier: Apache-2.0
// Names of luod's D-Bus API (dbus/org.luod.LiveUpdate1.*.xml is the source of truth).
#pragma once

#include <cstddef>

namespace luo::dbus {

inline constexpr const char* kBusName = "org.luod.LiveUpdate1";
inline constexpr const char* kManagerPath = "/org/luod/LiveUpdate1";
inline constexpr const char* kSessionPathPrefix = "/org/luod/LiveUpdate1/session";
inline constexpr const char* kManagerInterface = "org.luod.LiveUpdate1.Manager";
inline constexpr const char* kSessionInterface = "org.luod.LiveUpdate1.Session";

// The system bus carries at most this many fds per message; PreserveFds takes no more.
inline constexpr std::size_t kMaxFdsPerCall = 16;

namespace error {
inline constexpr const char* kNoSuchSession = "org.luod.LiveUpdate1.NoSuchSession";
inline constexpr const char* kSessionExists = "org.luod.LiveUpdate1.SessionExists";
inline constexpr const char* kNameReserved = "org.luod.LiveUpdate1.NameReserved";
inline constexpr const char* kQuotaExceeded = "org.luod.LiveUpdate1.QuotaExceeded";
inline constexpr const char* kNoSuchFile = "org.luod.LiveUpdate1.NoSuchFile";
inline constexpr const char* kLabelExists = "org.luod.LiveUpdate1.LabelExists";
inline constexpr const char* kUnsupportedFile = "org.luod.LiveUpdate1.UnsupportedFile";
inline constexpr const char* kFileAlreadyPreserved = "org.luod.LiveUpdate1.FileAlreadyPreserved";
inline constexpr const char* kInvalidState = "org.luod.LiveUpdate1.InvalidState";
inline constexpr const char* kDeviceUnavailable = "org.luod.LiveUpdate1.DeviceUnavailable";
inline constexpr const char* kKernelError = "org.luod.LiveUpdate1.KernelError";
inline constexpr const char* kUpdateInProgress = "org.luod.LiveUpdate1.UpdateInProgress";
inline constexpr const char* kChecksFailed = "org.luod.LiveUpdate1.ChecksFailed";
inline constexpr const char* kNotLoaded = "org.luod.LiveUpdate1.NotLoaded";
inline constexpr const char* kBlockedByInhibitor = "org.luod.LiveUpdate1.BlockedByInhibitor";
inline constexpr const char* kInvalidArgs = "org.freedesktop.DBus.Error.InvalidArgs";
inline constexpr const char* kAccessDenied = "org.freedesktop.DBus.Error.AccessDenied";
inline constexpr const char* kNotSupported = "org.freedesktop.DBus.Error.NotSupported";
inline constexpr const char* kLimitsExceeded = "org.freedesktop.DBus.Error.LimitsExceeded";
inline constexpr const char* kFailed = "org.freedesktop.DBus.Error.Failed";
}  // namespace error

}  // namespace luo::dbus
