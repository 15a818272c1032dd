// SPDX-License-Identifier: Apache-2.0
#include "api_error.h"

#include "luo/dbus_api.h"

namespace luod {

const char* dbus_error_name(ErrorKind kind)
{
    namespace e = luo::dbus::error;
    switch (kind) {
    case ErrorKind::no_such_session: return e::kNoSuchSession;
    case ErrorKind::session_exists: return e::kSessionExists;
    case ErrorKind::name_reserved: return e::kNameReserved;
    case ErrorKind::quota_exceeded: return e::kQuotaExceeded;
    case ErrorKind::no_such_file: return e::kNoSuchFile;
    case ErrorKind::label_exists: return e::kLabelExists;
    case ErrorKind::unsupported_file: return e::kUnsupportedFile;
    case ErrorKind::file_already_preserved: return e::kFileAlreadyPreserved;
    case ErrorKind::invalid_state: return e::kInvalidState;
    case ErrorKind::device_unavailable: return e::kDeviceUnavailable;
    case ErrorKind::kernel_error: return e::kKernelError;
    case ErrorKind::update_in_progress: return e::kUpdateInProgress;
    case ErrorKind::checks_failed: return e::kChecksFailed;
    case ErrorKind::not_loaded: return e::kNotLoaded;
    case ErrorKind::blocked_by_inhibitor: return e::kBlockedByInhibitor;
    case ErrorKind::invalid_args: return e::kInvalidArgs;
    case ErrorKind::access_denied: return e::kAccessDenied;
    case ErrorKind::not_supported: return e::kNotSupported;
    case ErrorKind::limits_exceeded: return e::kLimitsExceeded;
    case ErrorKind::failed: return e::kFailed;
    }
    return e::kFailed;
}

}  // namespace luod
