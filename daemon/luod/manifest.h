// SPDX-License-Identifier: Apache-2.0
// luod's manifest: what the kernel cannot tell — which sessions exist, who owns them, which
// label each token stands for, counters and the update report. It is JSON, versioned, kept
// as a log of changes (manifest_log.h) in memfds of luod's own "luod" session, named by an
// index at its token 0 (manifest_store.h), and read back after a restart (fd store) or a
// live update (the kernel): the log's entries, replayed, give the document below.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
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

// The index at token 0: which segments of luod's session hold the log (in order) and which
// the spare chain the next rewrite goes to; and where the log's last state entry was written
// (optional: a luod after a kexec reads it without walking the log when it is still the
// log's last entry, as the update's final record is).
struct ManifestIndex {
    std::uint64_t epoch = 0;  // the log's; its entries carry it
    std::size_t segment_size = 0;
    std::vector<std::uint64_t> active, spare;
    std::uint64_t next_token = 1;
    struct EntryAt {
        std::size_t offset = 0;
        std::uint64_t seq = 0;
        bool operator==(const EntryAt&) const = default;
    };
    std::optional<EntryAt> last_state;
    bool operator==(const ManifestIndex&) const = default;
};
// Throws ManifestError.
ManifestIndex decode_manifest_index(std::string_view text);

// The log's entries, each a JSON object, in order: {"h":{...}} the counters and the update
// record in flight, with "report_at" ({"offset","seq"}) naming the entry of the last report;
// {"r":{...}} the last update's report, written only when it changes (a luod before issue 12
// wrote it as "last_update" inside each {"h"}: still read);
// {"n":NAME,"s":{session header},"f":[files],"d":[tokens dropped]} a session added or changed
// ("s", "f", "d" each only when something of it changed); {"n":NAME,"x":true} a session gone.
// Replayed into the document they describe, then validated as decode_manifest does. Throws
// ManifestError.
Manifest replay_manifest_log(const std::vector<std::string>& entries, std::uint64_t generation);

// The same log sorted without parsing it (luod's own entries are recognised by their first
// bytes): the last state entry, and each live session's entries in order, to be replayed one
// session at a time (replay_session) when that session is needed. Throws ManifestError for
// an entry it must parse and cannot.
struct ManifestScan {
    std::string state;                                         // the last {"h":...}; "" if none
    std::string report;                                        // the last {"r":...}; "" if none
    std::map<std::string, std::vector<std::string>> sessions;  // by name
    std::set<std::string> erased;                              // names whose last entry erased them
    std::uint64_t generation = 0;                              // the log's epoch (set by its reader)
};
ManifestScan scan_manifest_log(std::vector<std::string> entries);
// What a log entry is, told from its first bytes (`head`, of a payload of `length` bytes) when
// it is as luod writes it: the state, a change of the session `name`, or its erasure; nullopt
// when those bytes do not tell (the whole entry must be read: manifest_entry_session()).
enum class ManifestEntryKind { state, session, erasure, report };
std::optional<ManifestEntryKind> classify_manifest_entry(std::string_view head, std::size_t length,
                                                         std::string& name);
// The session a whole entry is about (nullopt for the state and the report), and whether it erases it.
// Throws ManifestError.
std::optional<std::string> manifest_entry_session(std::string_view text, bool& erases);
// One session from its entries, validated as decode_manifest validates it. Throws ManifestError.
// Entries as luod writes them are read without building a JSON document; any other is parsed
// into one (replay_session_parsed), which gives the same session or says what is wrong.
ManifestSession replay_session(const std::vector<std::string>& entries);
// The two ways: without a JSON document (nullopt when an entry is not as luod writes it, or the
// session would not validate), and with every entry parsed into one (the reference).
std::optional<ManifestSession> replay_session_quickly(const std::vector<std::string>& entries);
ManifestSession replay_session_parsed(const std::vector<std::string>& entries);

}  // namespace luod
