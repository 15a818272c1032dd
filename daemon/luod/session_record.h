// SPDX-License-Identifier: Apache-2.0
// What luod knows of a session and its files, and of who calls. The session registry owns
// the records; the state store writes them to the manifest and reads them back; the D-Bus
// layer shows them. Nothing here acts.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "luo/device.h"
#include "string_table.h"

namespace luod {

struct Owner {
    uid_t uid = 0;
    std::string unit;  // systemd unit, "" outside any
};

// Who is calling: uid from the bus (trustworthy), unit from the pid's cgroup (a hint).
struct Caller {
    uid_t uid = 0;
    pid_t pid = 0;
    std::string unit;
    // polkit allowed this call the root-only action it asked for (polkit_authority.h).
    bool delegated = false;
    [[nodiscard]] bool is_root() const { return uid == 0; }
    // May do what is root's: root, or a caller polkit allowed it (only the call asked for).
    [[nodiscard]] bool may_administer() const { return is_root() || delegated; }
    [[nodiscard]] Owner as_owner() const { return {uid, unit}; }
};

// closed: its owner closed it, but a copy of its fd (AcquireFd) keeps the kernel's session
// alive. luod has let go of it, and records and counts it until the kernel no longer has it.
enum class SessionState { open, incoming, retrieved, finished, closed };
inline constexpr luo::StringTable<SessionState, 5> kSessionStates{{{
    {SessionState::open, "open"},
    {SessionState::incoming, "incoming"},
    {SessionState::retrieved, "retrieved"},
    {SessionState::finished, "finished"},
    {SessionState::closed, "closed"},
}}};
inline std::string_view to_string(SessionState state) { return kSessionStates.name(state); }
inline std::optional<SessionState> session_state_from_string(std::string_view name)
{
    return kSessionStates.parse(name);
}

// What luod recorded a preserved file as (Session.Files shows it).
enum class FileType { memfd, vfio, other };
inline constexpr luo::StringTable<FileType, 3> kFileTypes{{{
    {FileType::memfd, "memfd"},
    {FileType::vfio, "vfio"},
    {FileType::other, "file"},
}}};
inline std::string_view to_string(FileType type) { return kFileTypes.name(type); }
// A name this luod does not know (a newer luod's manifest) is "file".
inline FileType file_type_from_string(std::string_view name) { return kFileTypes.parse(name).value_or(FileType::other); }

struct FileRecord {
    std::string label;
    std::uint64_t token = 0;
    FileType type = FileType::other;
    bool pending = false;  // recorded before the kernel call; unknown whether it went through
    std::string device;    // vfio: the device node it was opened from (for the freeze checks)
    dev_t dev = 0;         // identity of the preserved file, to refuse preserving it twice
    ino_t ino = 0;
    std::uint64_t bytes = 0;  // what the kernel pins for it (a memfd's size), for MaxBytesPerUser
    // The state store's encoding of this record, kept until it changes: whoever changes a
    // file record clears it.
    mutable std::string encoded;
};

struct SessionRecord {
    std::string name;
    luo::SessionKind kind = luo::SessionKind::outgoing;
    SessionState state = SessionState::open;
    Owner owner;
    std::uint64_t created_usec = 0;
    std::uint64_t next_token = 1;
    std::vector<FileRecord> files;
    luo::Session kernel;  // luod's reference; empty while an incoming session is unclaimed
    bool pending = false; // recorded before the kernel created it (write-ahead)
    bool fd_handed_out = false;  // AcquireFd gave a copy of `kernel` away
};

// One file of a PreserveFd(s) call.
struct FileToPreserve {
    int fd = -1;
    std::string label;
};

}  // namespace luod
