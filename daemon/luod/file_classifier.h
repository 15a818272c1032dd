// SPDX-License-Identifier: Apache-2.0
// What a file a client hands luod to preserve is, found out without ever waiting on a file
// system.
//
// DOC: why so careful
//
// A client's fd may be on a FUSE mount (any user can make one) whose server stops
// answering: a stat, statfs, read or flush of it then waits in the kernel until the server
// answers, which may be never. luod runs its event loop on one thread, so one such call
// would stop luod for every caller. The fd is therefore looked at through what never
// reaches a file system: fcntl(F_GETFL) (its access mode), /proc/self/fdinfo (the mount it
// is on) and its /proc/self/fd link (for words in errors). Only a file on the mount every
// memfd lives on (learned at start from a memfd of luod's own), or a device node under
// luod's own <root>/dev/vfio/devices, is then fstat'ed: those file systems answer at once.
// Anything else is not a file LUO can preserve and is refused without being touched.
// (Closing a client's fd can also wait, for FUSE's flush: fd_reaper.h closes them.)
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "session_record.h"

namespace luod {

struct FileFacts {
    FileType type = FileType::memfd;  // memfd or vfio, as recorded and listed in Files
    std::string description;  // for messages: "memfd", "vfio", or what its /proc link says
    std::string device;       // vfio: the device node it was opened from
    dev_t dev = 0;            // identity, to refuse preserving one file twice
    ino_t ino = 0;
    uid_t owner = 0;          // the file's owner (a memfd's creator)
    std::uint64_t size = 0;   // bytes the kernel will pin (a memfd's size; 0 for a device)
};

class FileClassifier {
public:
    // `root`: the prefix of every kernel path (device nodes live under <root>/dev). Learns
    // the memfd mount by making a memfd; throws luo::Error when it cannot.
    explicit FileClassifier(std::filesystem::path root);

    // The facts of `fd`, which a caller passed under `label`. Throws ApiError:
    // invalid_args when it is not an open file, is an O_PATH fd, or is not open for both
    // reading and writing (the next kernel hands it back read-write); unsupported_file for
    // anything but a memfd or a vfio device; limits_exceeded when luod is out of fds.
    [[nodiscard]] FileFacts inspect(int fd, std::string_view label) const;

private:
    std::filesystem::path vfio_dir_;
    int memfd_mount_ = -1;    // mnt_id of memfds' mount
    int hugetlb_mount_ = -1;  // mnt_id of hugetlb memfds' mount, -1 when unknown
};

// The fields of /proc/self/fdinfo/<fd> luod reads: "flags" (octal) and "mnt_id". Returns
// false when the text lacks either. Pure, for tests and fuzzing.
bool parse_fdinfo(std::string_view text, unsigned& flags, int& mount_id);

}  // namespace luod
