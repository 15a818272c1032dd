// SPDX-License-Identifier: Apache-2.0
// Wire protocol between libluo's model transport and luo-kernel-model.
//
// The model stands in for the kernel, so its sockets stand in for kernel file objects:
//  - <root>/dev/liveupdate is a SOCK_SEQPACKET listening socket standing in for open(2).
//    Right after accept() the model sends an OpenStatus (0, EBUSY for a second opener, EIO
//    after a failed handover) and, on success, the device fd itself: the client end of a
//    socketpair the model made. The connection is then closed.
//  - A session fd is likewise the client end of a SOCK_SEQPACKET socketpair.
//  Because the model made every such socket, it sees the last close as a hang-up on its
//  end (exactly when the kernel would release the file), and at reboot it can find every
//  process still holding one by the socket's inode.
//  - <root>/run/luo-kernel-model/syscall stands in for kexec_file_load(2), reboot(2) and
//    the model's test controls; callers must be root (the kernel wants CAP_SYS_BOOT).
//
// Each request is one datagram: RequestHeader + argument bytes, with SCM_RIGHTS carrying
// [reply socket, payload fds...]. The reply socket is the caller's private end of a fresh
// socketpair, so any number of processes sharing a session fd can issue requests at once
// without seeing each other's replies (ioctls on a shared fd are independent too). The
// reply is ReplyHeader + copied-out argument bytes, with SCM_RIGHTS carrying a new fd when
// the request produced one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "luo/unique_fd.h"

namespace luo::model_wire {

inline constexpr std::uint32_t kMagic = 0x4d4f554cu;  // "LUOM"
inline constexpr std::uint16_t kVersion = 1;
// Argument bytes carried per request; the kernel would read `size` bytes, the model reads
// at most this many and is told whether anything beyond them was non-zero.
inline constexpr std::size_t kMaxArgBytes = 4096;
// Payload fds per request (kexec_file_load passes kernel and initrd).
inline constexpr std::size_t kMaxPayloadFds = 4;

enum RequestFlags : std::uint16_t {
    kFlagSizeFault = 1u << 0,       // the `size` word was not readable (kernel: EFAULT, step 2)
    kFlagBodyFault = 1u << 1,       // the rest of the struct was not readable (EFAULT, step 6)
    kFlagTrailingNonZero = 1u << 2, // bytes past kMaxArgBytes were non-zero (E2BIG)
    kFlagFdNotOpen = 1u << 3,       // the fd named in the argument was not open (EBADF)
};

struct RequestHeader {
    std::uint32_t magic;
    std::uint16_t version;
    std::uint16_t flags;
    std::uint64_t request;   // full ioctl request value, or a SyscallRequest
    std::uint32_t arg_len;   // argument bytes following the header
    std::uint32_t nfds;      // payload fds after the reply socket
};
static_assert(sizeof(RequestHeader) == 24);

struct ReplyHeader {
    std::uint32_t magic;
    std::int32_t result;     // 0 or -errno
    std::uint32_t arg_len;   // copied-out argument bytes following the header
    std::int32_t fd_offset;  // where the received fd's number goes in the argument, or -1
};
static_assert(sizeof(ReplyHeader) == 16);

struct OpenStatus {
    std::uint32_t magic;
    std::int32_t result;  // 0 or -errno
    // With EBUSY: the inode of the holder's device socket, so that the refused opener can
    // name the holder as it would on the kernel (whose holders' fds link to the device node).
    std::uint64_t holder_inode;
};

// Requests on the syscall socket. Arguments are the structs below.
enum SyscallRequest : std::uint64_t {
    kSysKexecFileLoad = 0x5359530001,  // fds: kernel, [initrd]
    kSysRebootKexec = 0x5359530002,    // success: no reply, the connection closes at "reboot"
    kSysModelStatus = 0x5359530010,    // reply: JSON document (test introspection, like debugfs)
    // fds: one file. Result 1 if the kernel would refuse to change its size now (a memfd
    // preserved in an outgoing session), else 0. The model cannot stop a resize itself; the
    // preload library (libluo/preload) asks this before letting one through. Any caller.
    kSysSizeFrozen = 0x5359530011,
    kSysVfioCreate = 0x5359530020,     // create a fake vfio-pci device
    kSysVfioSetIrqs = 0x5359530021,    // enable/disable its interrupts
    kSysVfioSetPower = 0x5359530022,   // set its power state (0 = D0, 3 = D3hot)
    kSysVfioRemove = 0x5359530023,     // hot-unplug it (retrieves of it then fail with ENODEV)
};

struct KexecFileLoadArgs {
    std::uint64_t flags;        // KEXEC_FILE_* flags
    std::uint32_t cmdline_len;  // including the NUL, like the system call
    std::uint32_t reserved;
    // followed by cmdline bytes
};

struct VfioArgs {
    char bdf[16];       // "0000:00:04.0"
    std::uint32_t value;
    std::uint32_t reserved;
};

// Raw datagram I/O with fds. send_datagram never raises SIGPIPE.
struct Datagram {
    std::vector<std::byte> bytes;
    std::vector<UniqueFd> fds;
    bool truncated = false;  // bytes or fds did not fit (fds beyond the limit are closed)
    bool eof = false;        // the peer closed the connection
};
// Returns 0 or -errno.
int send_datagram(int sock, std::span<const std::byte> bytes, std::span<const int> fds);
// The most fds one message carries (the kernel's SCM_MAX_FD).
inline constexpr std::size_t kMaxFdsPerDatagram = 253;
// Receives one datagram of at most max_bytes and max_fds (at most kMaxFdsPerDatagram); fds
// arrive with O_CLOEXEC. Returns 0 or -errno; EINTR is retried.
int recv_datagram(int sock, std::size_t max_bytes, std::size_t max_fds, Datagram& out);

}  // namespace luo::model_wire
