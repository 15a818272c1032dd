// SPDX-License-Identifier: Apache-2.0
#include "file_classifier.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>

#include "api_error.h"
#include "luo/error.h"
#include "luo/unique_fd.h"
#include "names.h"

namespace luod {

namespace {

[[noreturn]] void out_of_fds(std::string_view label)
{
    fail(ErrorKind::limits_exceeded, "luod is out of file descriptors and cannot look at " + quote(label));
}

// Whether luod has no fd left: then a caller's fd could not even be received (sd-bus hands
// the handler no fd), and the caller must hear that, not that it sent none.
bool at_fd_limit()
{
    luo::UniqueFd probe(::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0));
    if (probe)
        return false;
    if (errno == EBADF) {  // no stdin: any other fd will do
        luo::UniqueFd other(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        return !other && (errno == EMFILE || errno == ENFILE);
    }
    return errno == EMFILE || errno == ENFILE;
}

// /proc/self/fdinfo/<fd>: procfs, answered by the kernel without reaching the file's own
// file system.
std::string fdinfo_of(int fd, std::string_view label)
{
    std::string path = "/proc/self/fdinfo/" + std::to_string(fd);
    luo::UniqueFd info(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!info) {
        if (errno == EMFILE || errno == ENFILE)
            out_of_fds(label);
        fail(ErrorKind::invalid_args, quote(label) + ": not an open file");
    }
    char buf[1024];
    ssize_t n = ::read(info.get(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

int mount_of(int fd, std::string_view label)
{
    unsigned flags = 0;
    int mount_id = -1;
    if (!parse_fdinfo(fdinfo_of(fd, label), flags, mount_id))
        fail(ErrorKind::invalid_args, quote(label) + ": its fd cannot be examined");
    return mount_id;
}

// What the fd's /proc link names: a path, "pipe:[N]", "socket:[N]", "anon_inode:[...]".
std::string link_target(int fd)
{
    char target[PATH_MAX];
    std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
}

int learn_mount(unsigned memfd_flags)
{
    luo::UniqueFd probe(::memfd_create("luod-probe", MFD_CLOEXEC | memfd_flags));
    if (!probe)
        return -1;
    unsigned flags = 0;
    int mount_id = -1;
    std::string path = "/proc/self/fdinfo/" + std::to_string(probe.get());
    luo::UniqueFd info(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    char buf[1024];
    ssize_t n = info ? ::read(info.get(), buf, sizeof buf) : -1;
    if (n <= 0 || !parse_fdinfo(std::string_view(buf, static_cast<std::size_t>(n)), flags, mount_id))
        return -1;
    return mount_id;
}

const char* mode_name(unsigned flags)
{
    switch (flags & O_ACCMODE) {
    case O_RDONLY: return "O_RDONLY";
    case O_WRONLY: return "O_WRONLY";
    default: return "O_RDWR";
    }
}

}  // namespace

bool parse_fdinfo(std::string_view text, unsigned& flags, int& mount_id)
{
    bool have_flags = false, have_mount = false;
    while (!text.empty()) {
        std::size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos)
            continue;
        std::string_view key = line.substr(0, colon), value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        const char* first = value.data();
        const char* last = value.data() + value.size();
        if (key == "flags") {
            auto [p, ec] = std::from_chars(first, last, flags, 8);
            have_flags = ec == std::errc() && p == last;
        } else if (key == "mnt_id") {
            auto [p, ec] = std::from_chars(first, last, mount_id, 10);
            have_mount = ec == std::errc() && p == last && mount_id >= 0;
        }
    }
    return have_flags && have_mount;
}

FileClassifier::FileClassifier(std::filesystem::path root)
    : vfio_dir_((root / "dev/vfio/devices/").lexically_normal()),
      memfd_mount_(learn_mount(0)),
      hugetlb_mount_(learn_mount(MFD_HUGETLB))
{
    if (memfd_mount_ < 0)
        luo::throw_last_errno("learn the mount of memfds");
}

FileFacts FileClassifier::inspect(int fd, std::string_view label) const
{
    // The access mode first: F_GETFL reads the open file's flags, nothing else.
    int flags = fd < 0 ? -1 : ::fcntl(fd, F_GETFL);
    if (flags < 0) {
        if (at_fd_limit())
            out_of_fds(label);
        fail(ErrorKind::invalid_args, quote(label) + ": not an open file");
    }
    if (flags & O_PATH)
        fail(ErrorKind::invalid_args, quote(label) + " is an O_PATH fd; pass the file open for reading and writing");

    int mount_id = mount_of(fd, label);
    FileFacts facts;
    if (mount_id == memfd_mount_) {
        facts.type = FileType::memfd;
        facts.description = "memfd";
    } else {
        std::string target = link_target(fd);
        bool under_vfio = target.rfind(vfio_dir_.native(), 0) == 0;
        if (under_vfio) {
            // The node's own mount, as luod sees its directory, must be the fd's: a look-alike
            // path on another (a user's) file system is not the device.
            luo::UniqueFd dir(::open(vfio_dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
            if (!dir && (errno == EMFILE || errno == ENFILE))
                out_of_fds(label);
            under_vfio = dir && mount_of(dir.get(), label) == mount_id;
        }
        if (!under_vfio) {
            std::string what = mount_id == hugetlb_mount_ ? std::string("a hugetlb memfd")
                               : target.empty()           ? std::string("an unnamed file")
                                                          : quote(target, 120);
            fail(ErrorKind::unsupported_file, "the kernel cannot preserve " + quote(label) + " (" + what +
                                                  "); LUO preserves memfds and, where supported, VFIO devices");
        }
        facts.type = FileType::vfio;
        facts.description = "vfio";
        facts.device = target;
    }
    // A preserved file comes back read-write after the update.
    if ((flags & O_ACCMODE) != O_RDWR)
        fail(ErrorKind::invalid_args, quote(label) + " is open " + mode_name(static_cast<unsigned>(flags)) +
                                          "; a preserved file comes back read-write after the update, so it must "
                                          "be passed open for reading and writing (O_RDWR)");
    // On these two file systems fstat answers at once.
    struct stat st;
    if (::fstat(fd, &st) < 0)
        fail(ErrorKind::invalid_args, quote(label) + ": not an open file");
    if (facts.type == FileType::memfd && !S_ISREG(st.st_mode))
        fail(ErrorKind::unsupported_file, "the kernel cannot preserve " + quote(label) + " (not a memfd)");
    if (facts.type == FileType::vfio && !S_ISCHR(st.st_mode) && !S_ISREG(st.st_mode))
        fail(ErrorKind::unsupported_file, "the kernel cannot preserve " + quote(label) + " (not a device node)");
    facts.dev = st.st_dev;
    facts.ino = st.st_ino;
    facts.owner = st.st_uid;
    facts.size = facts.type == FileType::memfd ? static_cast<std::uint64_t>(st.st_size) : 0;
    return facts;
}

}  // namespace luod
