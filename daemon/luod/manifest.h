// SPDX-License-Identifier: Apache-2.0
// luod's manifest: what the kernel cannot tell — which sessions exist, who owns them, which
// label each token stands for, counters and the update report. It is JSON, versioned, kept
// in a memfd at token 0 of luod's own "luod" session (manifest_store.h), rewritten on every
// change, and read back after a restart (fd store) or a live update (the kernel).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace luod {

inline constexpr std::uint32_t kManifestVersion = 1;

struct ManifestFile {
    std::string label;
    std::uint64_t token = 0;
    std::string type;      // "memfd", "vfio", "file"
    bool pending = false;  // written before the kernel call: it may or may not be preserved
    std::string device;    // vfio: the device node it was opened from
    std::uint64_t bytes = 0;  // what the kernel pins for it (counted against its owner's quota)
    bool operator==(const ManifestFile&) const = default;
};

struct ManifestSession {
    std::string name;
    std::string kind;   // "outgoing", "incoming"
    std::string state;  // "open", "incoming", "retrieved", "finished"
    uid_t owner_uid = 0;
    std::string owner_unit;
    std::uint64_t created_usec = 0;  // CLOCK_REALTIME
    std::uint64_t next_token = 1;
    std::vector<ManifestFile> files;
    bool pending = false;  // written before the kernel created it
    bool fd_handed_out = false;  // AcquireFd gave a copy of the session fd away
    bool operator==(const ManifestSession&) const = default;
};

struct Manifest {
    std::uint64_t generation = 0;
    std::uint64_t written_usec = 0;
    std::string boot_id;
    std::uint64_t live_update_count = 0;
    std::vector<ManifestSession> sessions;
    nlohmann::json update = nlohmann::json::object();       // an update in flight (its phases so far)
    nlohmann::json last_update = nlohmann::json::object();  // the report of the last one
    bool operator==(const Manifest&) const = default;
};

class ManifestError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

std::string encode_manifest(const Manifest& manifest);
// The same in two steps, so a writer can keep each session's JSON until that session
// changes: encode_session() for each, then assemble_manifest() with everything but
// `manifest.sessions` from `header`.
std::string encode_session(const ManifestSession& session);
// And one level further down: a session assembled from its files' JSON.
std::string encode_file(const ManifestFile& file);
std::string assemble_session(const ManifestSession& header, const std::vector<const std::string*>& files);
std::string assemble_manifest(const Manifest& header, const std::vector<const std::string*>& sessions);
// Parses and validates (format, version, types, names, unique labels and tokens). Throws
// ManifestError saying what is wrong; never anything else.
Manifest decode_manifest(std::string_view text);

}  // namespace luod
