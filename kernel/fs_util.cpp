// SPDX-License-Identifier: Apache-2.0
#include "fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luo/error.h"
#include "luo/unique_fd.h"

namespace luo::kmodel {

void write_file_atomic(const std::filesystem::path& path, std::string_view content, mode_t mode)
{
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec)
        throw_errno(ec.value(), "mkdir " + path.parent_path().native());
    auto tmp = path;
    tmp += ".tmp";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd)
        throw_last_errno("open " + tmp.native());
    ::fchmod(fd.get(), mode);  // not subject to the umask
    for (std::size_t done = 0; done < content.size();) {
        ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw_last_errno("write " + tmp.native());
        }
        done += static_cast<std::size_t>(n);
    }
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) < 0)
        throw_last_errno("rename " + path.native());
}

std::string read_file(const std::filesystem::path& path)
{
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        throw_last_errno("open " + path.native());
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw_last_errno("read " + path.native());
        }
        if (n == 0)
            return out;
        out.append(buf, static_cast<std::size_t>(n));
    }
}

}  // namespace luo::kmodel
