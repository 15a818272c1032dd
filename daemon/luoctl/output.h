// SPDX-License-Identifier: Apache-2.0
// What luoctl prints: JSON documents with stable snake_case keys (for fleet agents) and aligned
// text (for people), built from the plain records of records.h. Pure, so it is unit-tested.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "records.h"

namespace luo::ctl {

// Keys keep the order they are inserted in, so that the documents read like the text output.
using Json = nlohmann::ordered_json;

Json status_json(const ManagerStatus& status);
std::string status_text(const ManagerStatus& status);

Json sessions_json(const std::vector<SessionSummary>& sessions);
std::string sessions_text(const std::vector<SessionSummary>& sessions);

Json session_json(const SessionDetails& session);
std::string session_text(const SessionDetails& session);

// Manager.Check(): {"ok": no check failed, "checks": [{"id", "verdict", "detail"}...]}, and a
// table ID VERDICT DETAIL.
// 'inhibitors': a table WHO MODE UID PID WHY; JSON an array of objects with who, why, mode,
// uid, pid.
Json inhibitors_json(const std::vector<InhibitorEntry>& inhibitors);
std::string inhibitors_text(const std::vector<InhibitorEntry>& inhibitors);
Json checks_json(const std::vector<CheckResult>& checks);
std::string checks_text(const std::vector<CheckResult>& checks);
// The ids of the checks whose verdict is "fail", in order ("warn" and "pass" are not failures).
std::vector<std::string> failed_checks(const std::vector<CheckResult>& checks);

// The one-line stderr report naming the failed checks; "" when none failed.
std::string checks_error_line(const std::vector<CheckResult>& checks);

// 'load': {"loaded": true, "kernel", "initrd" ("" for none), "cmdline"}.
Json kernel_loaded_json(const KernelLoadRequest& request, const std::string& loaded_cmdline);

// 'inhibit': {"command": argv[0], "arguments": argv[1...], "exit_status"}.
Json command_exit_json(const std::vector<std::string>& argv, int exit_status);

// The one-key documents of the verbs that only report that they were done.
Json flag_json(const std::string& key, bool value);

// The document as printed: indented, newline-terminated. Never throws: invalid UTF-8 (which the
// bus does not let through anyway) is replaced rather than aborting the output.
std::string json_text(const Json& document);

// Building blocks for the text output of every verb.

// `text` as one line fit for a terminal: line breaks and tabs become spaces, every other
// control character (an escape sequence would restyle or rewrite the operator's screen)
// becomes \xNN. Whatever luod relays from its callers (session names, inhibitor texts,
// reasons) passes through this before it is printed as text.
std::string terminal_safe(std::string_view text);

// `text`, or "-" when it is empty, so that a column or value is never blank.
std::string or_dash(std::string_view text);

// "Key: value" lines with the values aligned in one column.
using KeyValue = std::pair<std::string, std::string>;
std::string key_value_text(const std::vector<KeyValue>& rows);

// A table with a header line; columns are separated by two spaces and padded to their widest
// cell (the last column is not padded, so no line has trailing blanks).
std::string table_text(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// Characters shown on a terminal, counting each UTF-8 sequence once (close enough for alignment).
std::size_t display_width(std::string_view text);

}  // namespace luo::ctl
