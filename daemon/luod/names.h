// SPDX-License-Identifier: Apache-2.0
// What luod accepts as session names and file labels, and the names it keeps for itself.
#pragma once

#include <string>
#include <string_view>
#include <vector>

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

// Throws ApiError(invalid_args) unless `text` (an inhibitor's who or why) is UTF-8 of at
// most kMaxInhibitorText bytes without control characters: it is shown to operators and
// written to the log, where a newline or a terminal escape would forge what they read.
inline constexpr std::size_t kMaxInhibitorText = 255;
void validate_display_text(std::string_view text, const char* what);

bool is_valid_utf8(std::string_view text);
bool has_control_characters(std::string_view text);
// For log lines and error messages: the text with control and non-UTF-8 bytes escaped.
std::string printable(std::string_view text);

// What an error message or log line repeats of a caller's string: in single quotes, at most
// `most` bytes of it (a prefix cut at a character boundary, then "..."), escaped as
// printable() does. The bound holds for any input, so no reply or log line grows with what
// a caller sent (luod's replies stay far below the bus's message limit).
inline constexpr std::size_t kQuotedPrefix = 80;
std::string quote(std::string_view text, std::size_t most = kQuotedPrefix);

// `parts` joined by `separator`, at most about `most` bytes: what does not fit is counted
// (" and 12 more"). For details listing sessions, files or inhibitor holders.
std::string join_bounded(const std::vector<std::string>& parts, std::string_view separator,
                         std::size_t most = 2048);

}  // namespace luod
