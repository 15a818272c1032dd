// SPDX-License-Identifier: Apache-2.0
// What a file a client hands luod to preserve is: the type recorded for it (memfd, vfio, or
// any other file, which the kernel will refuse) and words for error messages. Looks at the
// fd only through fstatfs and its /proc link, never at its contents.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "session_record.h"

namespace luod {

struct FileKind {
    FileType type = FileType::other;  // as recorded and listed in Files
    std::string description;  // e.g. "memfd", "hugetlb memfd", "pipe", "character device /dev/null"
    std::string device;       // vfio: the device node it was opened from
};

// `st` is fstat(fd); vfio devices are those under <root>/dev/vfio/devices/.
FileKind classify_file(int fd, const struct ::stat& st, const std::filesystem::path& root);

}  // namespace luod
