// SPDX-License-Identifier: Apache-2.0
// Errors at the kernel boundary carry the errno the kernel (or the model) returned.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>

namespace luo {

class Error : public std::system_error {
public:
    Error(int err, const std::string& what) : std::system_error(err, std::generic_category(), what) {}
    // The errno value, e.g. EBUSY.
    [[nodiscard]] int errno_value() const noexcept { return code().value(); }
};

[[noreturn]] inline void throw_errno(int err, const std::string& what) { throw Error(err, what); }
[[noreturn]] inline void throw_last_errno(const std::string& what) { throw Error(errno, what); }

// Name of an errno value ("EBUSY"), or "E<number>" when unknown.
std::string errno_name(int err);

}  // namespace luo
