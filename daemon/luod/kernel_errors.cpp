// SPDX-License-Identifier: Apache-2.0
#include "kernel_errors.h"

#include <cstring>

#include "api_error.h"
#include "names.h"

namespace luod {

std::string errno_text(const luo::Error& e)
{
    return luo::errno_name(e.errno_value()) + " (" + std::strerror(e.errno_value()) + ")";
}

void fail_device_busy(const luo::Error& e, const std::string& request)
{
    fail(ErrorKind::device_unavailable, "cannot " + request + ": " + e.what() +
                                            "; luod shares the device with PID 1 and tried again for a while");
}

void fail_create(const luo::Error& e, const std::string& name)
{
    switch (e.errno_value()) {
    case EBUSY:
        fail_device_busy(e, "create session " + quote(name));
    case EEXIST:
        fail(ErrorKind::session_exists, "a kernel session named " + quote(name) + " exists outside luod");
    case EINVAL:
        fail(ErrorKind::invalid_args, "the kernel refused the session name " + quote(name));
    case ENOMEM:
    case ENOSPC:
        fail(ErrorKind::limits_exceeded, "the kernel has no room for another session: " + errno_text(e));
    case EMFILE:
    case ENFILE:
        fail(ErrorKind::limits_exceeded, "luod is out of file descriptors");
    default:
        fail(ErrorKind::kernel_error, "LIVEUPDATE_IOCTL_CREATE_SESSION failed: " + errno_text(e));
    }
}

void fail_preserve(const luo::Error& e, const std::string& label, const std::string& description)
{
    switch (e.errno_value()) {
    case ENOENT:
        fail(ErrorKind::unsupported_file, "the kernel cannot preserve " + quote(label) + " (" + description +
                                              "); LUO preserves memfds and, where supported, VFIO devices");
    case EBUSY:
        fail(ErrorKind::file_already_preserved, quote(label) + " is already preserved by LUO");
    case EOPNOTSUPP:
        fail(ErrorKind::unsupported_file, quote(label) + " has seals LUO cannot carry");
    case EFBIG:
    case ENOSPC:
    case ENOMEM:
        fail(ErrorKind::limits_exceeded, "the kernel cannot take " + quote(label) + ": " + errno_text(e));
    case EBADF:
        fail(ErrorKind::invalid_args, quote(label) + ": not an open file");
    default:
        fail(ErrorKind::kernel_error, "LIVEUPDATE_SESSION_PRESERVE_FD of " + quote(label) + " failed: " + errno_text(e));
    }
}

}  // namespace luod
