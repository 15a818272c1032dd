// SPDX-License-Identifier: Apache-2.0
// Fuzz target: luod's checks of names and labels that arrive over D-Bus
// (daemon/luod/names.h): is_valid_utf8 against an independent validator written from the
// Unicode standard's table of well-formed byte sequences (Table 3-7), printable's promise
// (valid UTF-8 without control characters, unchanged when nothing needs escaping), and
// validate_session_name / validate_label accepting exactly what names.h documents.
// The a{sv} options of the methods have their own target (method_options.cpp).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api_error.h"
#include "fuzz_util.h"
#include "luo/uapi.h"
#include "names.h"

namespace {

// Unicode 15, Table 3-7: the well-formed UTF-8 byte sequences.
bool well_formed_utf8(std::string_view text)
{
    auto in = [](unsigned char c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
    for (std::size_t i = 0; i < text.size();) {
        auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
        std::size_t left = text.size() - i;
        unsigned char c = b(0);
        if (c <= 0x7f) {
            i += 1;
        } else if (in(c, 0xc2, 0xdf)) {
            if (left < 2 || !in(b(1), 0x80, 0xbf))
                return false;
            i += 2;
        } else if (in(c, 0xe0, 0xef)) {
            unsigned lo = c == 0xe0 ? 0xa0 : 0x80;
            unsigned hi = c == 0xed ? 0x9f : 0xbf;
            if (left < 3 || !in(b(1), lo, hi) || !in(b(2), 0x80, 0xbf))
                return false;
            i += 3;
        } else if (in(c, 0xf0, 0xf4)) {
            unsigned lo = c == 0xf0 ? 0x90 : 0x80;
            unsigned hi = c == 0xf4 ? 0x8f : 0xbf;
            if (left < 4 || !in(b(1), lo, hi) || !in(b(2), 0x80, 0xbf) || !in(b(3), 0x80, 0xbf))
                return false;
            i += 4;
        } else {
            return false;
        }
    }
    return true;
}

bool has_control(std::string_view text)
{
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

// Returns the error kind, or nullopt when accepted. Only ApiError may come out.
template <typename Validate>
std::optional<luod::ErrorKind> outcome(Validate validate, std::string_view text)
{
    try {
        validate(text);
        return std::nullopt;
    } catch (const luod::ApiError& e) {
        FUZZ_CHECK(luod::dbus_error_name(e.kind()) != nullptr);
        return e.kind();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);

    bool utf8 = luod::is_valid_utf8(text);
    FUZZ_CHECK_MSG(utf8 == well_formed_utf8(text), utf8 ? "accepts ill-formed UTF-8" : "refuses well-formed UTF-8");

    std::string shown = luod::printable(text);
    FUZZ_CHECK_MSG(luod::is_valid_utf8(shown) && !has_control(shown), "printable() output is not printable");
    bool needs_escape = !utf8 || has_control(text) || text.find('\\') != std::string_view::npos;
    FUZZ_CHECK(needs_escape ? shown != text : shown == text);

    // Session names: 1-63 bytes of UTF-8 without control characters or '/', and not
    // "systemd", "luod" or "luod.*" (names.h).
    bool well_formed = !text.empty() && text.size() < luo::uapi::kSessionNameLength && utf8 && !has_control(text) &&
                       text.find('/') == std::string_view::npos;
    bool reserved = text == "systemd" || text == "luod" || text.starts_with("luod.");
    auto name = outcome(luod::validate_session_name, text);
    if (!well_formed)
        FUZZ_CHECK_MSG(name == luod::ErrorKind::invalid_args, "malformed session name not refused as invalid_args");
    else if (reserved)
        FUZZ_CHECK_MSG(name == luod::ErrorKind::name_reserved, "reserved session name not refused as name_reserved");
    else
        FUZZ_CHECK_MSG(!name.has_value(), "valid session name refused");

    // Labels: 1-255 bytes of UTF-8 without control characters.
    bool label_ok = !text.empty() && text.size() <= luod::kMaxLabelLength && utf8 && !has_control(text);
    auto label = outcome(luod::validate_label, text);
    FUZZ_CHECK_MSG(label_ok ? !label.has_value() : label == luod::ErrorKind::invalid_args, "label check disagrees");
    return 0;
}
