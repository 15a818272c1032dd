// SPDX-License-Identifier: Apache-2.0
// The manifest properties both manifest targets assert on text that decode_manifest takes.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "api_error.h"
#include "fuzz_util.h"
#include "manifest.h"
#include "names.h"

namespace luo::fuzz {

// Decodes `text`; returns false when luod refuses it (ManifestError, the only exception
// decode_manifest may throw: anything else escapes and is reported as a crash).
inline bool decode(std::string_view text, luod::Manifest& out)
{
    try {
        out = luod::decode_manifest(text);
        return true;
    } catch (const luod::ManifestError& e) {
        FUZZ_CHECK(std::string_view(e.what()).starts_with("manifest: "));
        return false;
    }
}

inline bool accepted_name(std::string_view name)
{
    try {
        luod::validate_session_name(name);
        return true;
    } catch (const luod::ApiError&) {
        return false;
    }
}

inline bool accepted_label(std::string_view label)
{
    try {
        luod::validate_label(label);
        return true;
    } catch (const luod::ApiError&) {
        return false;
    }
}

// What decode_manifest promises about a manifest it returns, and that it survives being
// written and read back (luod rewrites it on every change and reads it after a restart).
inline void check_decoded(const luod::Manifest& m)
{
    FUZZ_CHECK(m.update.is_object() && m.last_update.is_object());
    std::set<std::string> names;
    for (const luod::ManifestSession& s : m.sessions) {
        FUZZ_CHECK_MSG(accepted_name(s.name), "a decoded session name fails validation");
        FUZZ_CHECK(names.insert(s.name).second);
        FUZZ_CHECK(s.kind == "outgoing" || s.kind == "incoming");
        FUZZ_CHECK(s.state == "open" || s.state == "incoming" || s.state == "retrieved" || s.state == "finished");
        std::set<std::string> labels;
        std::set<std::uint64_t> tokens;
        for (const luod::ManifestFile& f : s.files) {
            FUZZ_CHECK_MSG(accepted_label(f.label), "a decoded label fails validation");
            FUZZ_CHECK(labels.insert(f.label).second && tokens.insert(f.token).second);
            FUZZ_CHECK(f.token < s.next_token);
        }
    }
    std::string text = luod::encode_manifest(m);
    luod::Manifest again;
    FUZZ_CHECK_MSG(decode(text, again), "luod cannot read back the manifest it writes");
    FUZZ_CHECK_MSG(again == m, "decode(encode(m)) != m");
    FUZZ_CHECK_MSG(luod::encode_manifest(again) == text, "encoding is not stable");
}

}  // namespace luo::fuzz
