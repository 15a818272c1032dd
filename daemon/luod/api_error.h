// SPDX-License-Identifier: Apache-2.0
// Errors luod returns to its callers, independent of D-Bus: each kind is one error name of
// the API (dbus/*.xml). The D-Bus layer turns them into sdbus::Error.
#pragma once

#include <stdexcept>
#include <string>

namespace luod {

enum class ErrorKind {
    no_such_session,
    session_exists,
    name_reserved,
    quota_exceeded,
    no_such_file,
    label_exists,
    unsupported_file,
    file_already_preserved,
    invalid_state,
    device_unavailable,
    kernel_error,
    update_in_progress,
    checks_failed,
    not_loaded,
    blocked_by_inhibitor,
    invalid_args,
    access_denied,
    not_supported,
    limits_exceeded,
    failed,
};

const char* dbus_error_name(ErrorKind kind);

class ApiError : public std::runtime_error {
public:
    ApiError(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    [[nodiscard]] ErrorKind kind() const { return kind_; }

private:
    ErrorKind kind_;
};

[[noreturn]] inline void fail(ErrorKind kind, const std::string& message) { throw ApiError(kind, message); }

}  // namespace luod
