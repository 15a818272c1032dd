// SPDX-License-Identifier: Apache-2.0
// What luod accepts as session names and file labels, and the names it keeps for itself.
#pragma once

#include <string>
#include <string_view>

namespace luod {

// luod's own session (its manifest lives at token 0) and the prefix of its scratch sessions.
inline constexpr std::string_view kLuodSession = "luod";
inline constexpr std::string_view kReservedPrefix = "luod.";
inline constexpr std::string_view kProbeSession = "luod.probe";
inline constexpr std::size_t kMaxLabelLength = 255;
inline constexpr std::size_t kMaxUnitNameLength = 255;

// Throws ApiError: invalid_args for a malformed name (empty, over 63 bytes, not UTF-8, control
// characters or '/'), name_reserved for "systemd", "luod" and "luod.*".
void validate_session_name(std::string_view name);
// Throws ApiError(invalid_args): 1-255 bytes of UTF-8 without control characters.
void validate_label(std::string_view label);

// Throws ApiError(invalid_args) unless `unit` is a name a service's processes can run in:
// systemd's unit name syntax, a .service or .scope, at most 255 bytes.
void validate_unit_name(std::string_view unit);

bool is_valid_utf8(std::string_view text);
// For log lines and error messages: the text with control and non-UTF-8 bytes escaped.
std::string printable(std::string_view text);

}  // namespace luod
