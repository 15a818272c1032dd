// SPDX-License-Identifier: Apache-2.0
// The Live Update Orchestrator uAPI (include/uapi/linux/liveupdate.h, Linux 6.19-7.2),
// restated from the ABI fact sheet. Debian 12's kernel headers predate LUO, so the layout
// lives here and is pinned by static_asserts: it must match the kernel byte for byte.
#pragma once

#include <linux/ioctl.h>

#include <cstddef>
#include <cstdint>

namespace luo::uapi {

inline constexpr unsigned kIoctlType = 0xBA;
// Maximum session name length including the terminating NUL.
inline constexpr std::size_t kSessionNameLength = 64;

enum Command : unsigned {
    kCmdCreateSession = 0x00,
    kCmdRetrieveSession = 0x01,
    kCmdSessionPreserveFd = 0x40,
    kCmdSessionRetrieveFd = 0x41,
    kCmdSessionFinish = 0x42,
    kCmdSessionGetName = 0x43,  // 7.2+
};

// The kernel encodes every LUO ioctl with _IO(): no direction or size bits.
constexpr unsigned long ioctl_request(unsigned nr) { return _IO(kIoctlType, nr); }
constexpr unsigned ioctl_nr(unsigned long request) { return _IOC_NR(request); }

inline constexpr unsigned long kIoctlCreateSession = ioctl_request(kCmdCreateSession);
inline constexpr unsigned long kIoctlRetrieveSession = ioctl_request(kCmdRetrieveSession);
inline constexpr unsigned long kSessionPreserveFd = ioctl_request(kCmdSessionPreserveFd);
inline constexpr unsigned long kSessionRetrieveFd = ioctl_request(kCmdSessionRetrieveFd);
inline constexpr unsigned long kSessionFinish = ioctl_request(kCmdSessionFinish);
inline constexpr unsigned long kSessionGetName = ioctl_request(kCmdSessionGetName);

#if defined(__x86_64__) || defined(__aarch64__) || defined(__riscv)
// Generic ioctl encoding: _IOC_NONE is 0, so the request is just type << 8 | nr.
static_assert(kIoctlCreateSession == 0xBA00);
static_assert(kIoctlRetrieveSession == 0xBA01);
static_assert(kSessionPreserveFd == 0xBA40);
static_assert(kSessionRetrieveFd == 0xBA41);
static_assert(kSessionFinish == 0xBA42);
static_assert(kSessionGetName == 0xBA43);
#endif

struct liveupdate_ioctl_create_session {
    std::uint32_t size;
    std::int32_t fd;  // out
    std::uint8_t name[kSessionNameLength];
};

struct liveupdate_ioctl_retrieve_session {
    std::uint32_t size;
    std::int32_t fd;  // out
    std::uint8_t name[kSessionNameLength];
};

struct liveupdate_session_preserve_fd {
    std::uint32_t size;
    std::int32_t fd;
    alignas(8) std::uint64_t token;
};

struct liveupdate_session_retrieve_fd {
    std::uint32_t size;
    std::int32_t fd;  // out
    alignas(8) std::uint64_t token;
};

struct liveupdate_session_finish {
    std::uint32_t size;
    std::uint32_t reserved;  // must be zero: 7.2 refuses anything else (EINVAL); 6.19/7.0 did not check
};

struct liveupdate_session_get_name {
    std::uint32_t size;
    std::uint32_t reserved;  // must be zero, else EINVAL
    std::uint8_t name[kSessionNameLength];  // out
};

static_assert(sizeof(liveupdate_ioctl_create_session) == 72 && alignof(liveupdate_ioctl_create_session) == 4);
static_assert(offsetof(liveupdate_ioctl_create_session, size) == 0);
static_assert(offsetof(liveupdate_ioctl_create_session, fd) == 4);
static_assert(offsetof(liveupdate_ioctl_create_session, name) == 8);
static_assert(sizeof(liveupdate_ioctl_retrieve_session) == 72 && alignof(liveupdate_ioctl_retrieve_session) == 4);
static_assert(offsetof(liveupdate_ioctl_retrieve_session, fd) == 4);
static_assert(offsetof(liveupdate_ioctl_retrieve_session, name) == 8);
static_assert(sizeof(liveupdate_session_preserve_fd) == 16 && alignof(liveupdate_session_preserve_fd) == 8);
static_assert(offsetof(liveupdate_session_preserve_fd, fd) == 4);
static_assert(offsetof(liveupdate_session_preserve_fd, token) == 8);
static_assert(sizeof(liveupdate_session_retrieve_fd) == 16 && alignof(liveupdate_session_retrieve_fd) == 8);
static_assert(offsetof(liveupdate_session_retrieve_fd, fd) == 4);
static_assert(offsetof(liveupdate_session_retrieve_fd, token) == 8);
static_assert(sizeof(liveupdate_session_finish) == 8);
static_assert(offsetof(liveupdate_session_finish, reserved) == 4);
static_assert(sizeof(liveupdate_session_get_name) == 72);
static_assert(offsetof(liveupdate_session_get_name, reserved) == 4);
static_assert(offsetof(liveupdate_session_get_name, name) == 8);

// Smallest `size` each ioctl accepts (the end of its last known field).
inline constexpr std::uint32_t kMinSizeCreateSession = 72;
inline constexpr std::uint32_t kMinSizeRetrieveSession = 72;
inline constexpr std::uint32_t kMinSizePreserveFd = 16;
inline constexpr std::uint32_t kMinSizeRetrieveFd = 16;
inline constexpr std::uint32_t kMinSizeFinish = 8;
inline constexpr std::uint32_t kMinSizeGetName = 72;

// kexec_file_load(2) flags (include/uapi/linux/kexec.h).
inline constexpr unsigned long kKexecFileUnload = 0x1;
inline constexpr unsigned long kKexecFileOnCrash = 0x2;
inline constexpr unsigned long kKexecFileNoInitramfs = 0x4;

// memfd seal not in Debian 12's headers (Linux 6.3+).
inline constexpr int kSealExec = 0x0020;

}  // namespace luo::uapi
