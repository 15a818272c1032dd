// SPDX-License-Identifier: Apache-2.0
#include <fcntl.h>

#include <cstring>
#include <string>

#include "luo/error.h"
#include "luo/unique_fd.h"

namespace luo {

UniqueFd dup_fd(int fd)
{
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0)
        throw_last_errno("dup fd " + std::to_string(fd));
    return UniqueFd(copy);
}

std::string errno_name(int err)
{
    const char* name = strerrorname_np(err);
    return name ? std::string(name) : "E" + std::to_string(err);
}

}  // namespace luo
