// SPDX-License-Identifier: Apache-2.0
#include "file_classifier.h"

#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <climits>

namespace luod {

namespace {

std::string link_target(int fd)
{
    char target[PATH_MAX];
    std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
}

std::string describe(int fd, const struct ::stat& st, const std::filesystem::path& root, std::string& path)
{
    struct statfs sfs {};
    ::fstatfs(fd, &sfs);
    if (S_ISREG(st.st_mode) && st.st_nlink == 0 && sfs.f_type == TMPFS_MAGIC)
        return "memfd";
    if (sfs.f_type == HUGETLBFS_MAGIC)
        return "hugetlb memfd";
    path = link_target(fd);
    auto vfio_dir = (root / "dev/vfio/devices/").lexically_normal().native();
    if ((S_ISCHR(st.st_mode) || S_ISREG(st.st_mode)) && path.rfind(vfio_dir, 0) == 0)
        return "vfio";
    if (S_ISFIFO(st.st_mode))
        return "pipe";
    if (S_ISSOCK(st.st_mode))
        return "socket";
    if (S_ISCHR(st.st_mode))
        return "character device " + path;
    if (S_ISDIR(st.st_mode))
        return "directory";
    if (S_ISREG(st.st_mode))
        return "regular file";
    return "file";
}

}  // namespace

FileKind classify_file(int fd, const struct ::stat& st, const std::filesystem::path& root)
{
    FileKind kind;
    std::string path;
    kind.description = describe(fd, st, root, path);
    // The names of the two types LUO preserves are their descriptions.
    kind.type = file_type_from_string(kind.description);
    if (kind.type == FileType::vfio)
        kind.device = path;
    return kind;
}

}  // namespace luod
