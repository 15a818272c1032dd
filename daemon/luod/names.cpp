// SPDX-License-Identifier: Apache-2.0
#include "names.h"

#include <cstdio>

#include "api_error.h"
#include "luo/uapi.h"

namespace luod {

bool is_valid_utf8(std::string_view text)
{
    for (std::size_t i = 0; i < text.size();) {
        auto c = static_cast<unsigned char>(text[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (len == 0 || i + len > text.size())
            return false;
        std::uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (std::size_t k = 1; k < len; ++k) {
            auto cc = static_cast<unsigned char>(text[i + k]);
            if ((cc >> 6) != 0x2)
                return false;
            cp = cp << 6 | (cc & 0x3f);
        }
        // No overlong forms, surrogates or code points past U+10FFFF.
        static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < kMin[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        i += len;
    }
    return true;
}

bool has_control_characters(std::string_view text)
{
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

std::string quote(std::string_view text, std::size_t most)
{
    bool cut = text.size() > most;
    if (cut) {
        std::size_t end = most;
        // Back to the start of a UTF-8 sequence (at most three continuation bytes).
        for (int k = 0; k < 3 && end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80; ++k)
            --end;
        text = text.substr(0, end);
    }
    return "'" + printable(text) + (cut ? "'..." : "'");
}

std::string join_bounded(const std::vector<std::string>& parts, std::string_view separator, std::size_t most)
{
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i > 0 && out.size() + separator.size() + parts[i].size() > most)
            return out + " and " + std::to_string(parts.size() - i) + " more";
        if (i > 0)
            out += separator;
        out += parts[i];
    }
    return out;
}

std::string printable(std::string_view text)
{
    std::string out;
    bool utf8 = is_valid_utf8(text);
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f || c == '\\' || (!utf8 && c >= 0x80)) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += ch;
        }
    }
    return out;
}

void validate_session_name(std::string_view name)
{
    if (name.empty())
        fail(ErrorKind::invalid_args, "the session name is empty");
    if (name.size() >= luo::uapi::kSessionNameLength)
        fail(ErrorKind::invalid_args, "the session name is longer than 63 bytes");
    if (!is_valid_utf8(name) || has_control_characters(name) || name.find('/') != std::string_view::npos)
        fail(ErrorKind::invalid_args, "the session name " + quote(name) +
                                          " must be UTF-8 without control characters or '/'");
    if (name == "systemd" || name == kLuodSession || name.substr(0, kReservedPrefix.size()) == kReservedPrefix)
        fail(ErrorKind::name_reserved, "the session name " + quote(name) + " is reserved");
}

void validate_label(std::string_view label)
{
    if (label.empty() || label.size() > kMaxLabelLength)
        fail(ErrorKind::invalid_args, "a file label must be 1-255 bytes");
    if (!is_valid_utf8(label) || has_control_characters(label))
        fail(ErrorKind::invalid_args, "the file label " + quote(label) + " must be UTF-8 without control characters");
}

void validate_display_text(std::string_view text, const char* what)
{
    if (text.size() > kMaxInhibitorText || !is_valid_utf8(text) || has_control_characters(text))
        fail(ErrorKind::invalid_args, std::string(what) + " must be UTF-8 of at most " +
                                          std::to_string(kMaxInhibitorText) + " bytes without control characters");
}

void validate_unit_name(std::string_view unit)
{
    auto refuse = [&](const char* why) {
        fail(ErrorKind::invalid_args, quote(unit) + " is not a unit a service runs in: " + why);
    };
    if (unit.size() > kMaxUnitNameLength)
        refuse("longer than 255 bytes");
    std::string_view stem;
    for (std::string_view suffix : {std::string_view(".service"), std::string_view(".scope")})
        if (unit.size() > suffix.size() && unit.substr(unit.size() - suffix.size()) == suffix)
            stem = unit.substr(0, unit.size() - suffix.size());
    if (stem.empty())
        refuse("a name ending in .service or .scope");
    for (char c : stem) {
        bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
                       c == '-' || c == '_' || c == '.' || c == '\\' || c == '@';
        if (!allowed)
            refuse("only ASCII letters, digits and \":-_.\\@\" may appear");
    }
    // A template's instance ("name@instance"): one '@', neither side empty.
    if (auto at = stem.find('@'); at != std::string_view::npos)
        if (at == 0 || at + 1 == stem.size() || stem.find('@', at + 1) != std::string_view::npos)
            refuse("a template instance is name@instance");
}

}  // namespace luod
