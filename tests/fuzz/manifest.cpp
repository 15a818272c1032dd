// SPDX-License-Identifier: Apache-2.0
// Fuzz target: luod's manifest reader (daemon/luod/manifest.h decode_manifest) on the JSON
// text luod finds in its manifest memfd after a restart or a live update. Only
// ManifestError may come out; what decodes must satisfy its validation and round-trip
// through encode_manifest unchanged (manifest_check.h).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "manifest_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    luod::Manifest m;
    if (luo::fuzz::decode(text, m))
        luo::fuzz::check_decoded(m);
    return 0;
}
