// SPDX-License-Identifier: Apache-2.0
// The input format of the fuzz_model_ioctl target, shared with the seed generator.
//
// An input is a program for a userspace driving the model's LUO core:
//   config byte:  bits 0-1 profile (0, 3: "7.2", 1: "7.1", 2: "6.19")
//                 bits 2-3 block limit (0: the default 10000, else 1-3; 7.2 only)
//   then ops until the input ends, each an opcode byte (modulo kOpCount) and its operands
//   (see the comment at each opcode; "sess" is an index into the sessions the driver holds
//   fds for, "pay" a payload selector, see Payload).
// Raw requests go through the same bytes the model receives: a RequestHeader followed by
// the argument, so `arg` points into a real datagram buffer as it does in the model.
#pragma once

#include <cstdint>

namespace luo::fuzz::program {

enum Op : std::uint8_t {
    kOpDeviceRaw,        // req u8, flags u16, len u16, arg bytes (zero-padded to len), pay u8
    kOpSessionRaw,       // sess u8, then as kOpDeviceRaw
    kOpCreate,           // name_len u8 (mod 66), name bytes
    kOpRetrieveSession,  // sel u8: < 0x80 picks a name the driver saw; else name_len u8 + bytes
    kOpPreserve,         // sess u8, token u8, pay u8
    kOpRetrieveFd,       // sess u8, token u8
    kOpFinish,           // sess u8
    kOpGetName,          // sess u8, reserved u8 (non-zero: reserved = 1)
    kOpClose,            // sess u8: the last reference to that session fd goes away
    kOpReboot,           // freeze, serialize, re-exec: deserialize and restore in a new core
    kOpMemfd,            // size u16 (bytes << 4), seals u8: a new memfd the driver holds
    kOpDropFd,           // sel u8: close a file the driver holds
    kOpEndpointFail,     // errno sel u8: the next session endpoint cannot be made
    kOpCount,
};

// Request selector of raw ops: 0x00-0xef is _IO(0xBA, sel); 0xf0-0xfb a wrong encoding of
// a known nr (kWrongEncoding); 0xfc-0xfd another ioctl type; 0xfe a raw u64 follows.
inline constexpr std::uint8_t kReqWrongEncoding = 0xf0;
inline constexpr std::uint8_t kReqOtherType = 0xfc;
inline constexpr std::uint8_t kReqRawU64 = 0xfe;

// Payload selector: low nibble the kind, bit 4 adds a second payload fd, bits 5-7 an index
// (into the files or sessions the driver holds).
enum Payload : std::uint8_t {
    kPayNone,
    kPayHeld,       // a file the driver holds (memfds, retrieved files)
    kPayDevNull,
    kPayPlainFile,  // a linked regular file
    kPayVfioReady,  // the cdev of a device that can be frozen
    kPayVfioIrqs,   // ... of one whose interrupts are on (freeze fails)
    kPayVfioD3,     // ... of one in D3hot (freeze fails)
    kPayVfioGroup,  // the group node of the ready device (refused)
    kPaySessionFd,  // a session fd the driver holds
    kPayFreshMemfd, // a new 4 KiB memfd
    kPayHugeMemfd,  // a hugetlb memfd (refused; or not available)
    kPayPipe,       // a pipe (refused)
    kPayCount,
};
inline constexpr std::uint8_t kPayTwoFds = 0x10;

inline constexpr std::uint8_t pay(Payload kind, unsigned index = 0)
{
    return static_cast<std::uint8_t>(kind | (index & 7) << 5);
}

}  // namespace luo::fuzz::program

namespace luo::fuzz {

// The preserved memory the fuzz_handover target offers a restore: memfds of these sizes, in
// this order (a memfd_luo_ser's folios.first is an index into it).
inline constexpr std::uint64_t kHandoverMemorySizes[] = {0, 4096, 12345, 1 << 20};

}  // namespace luo::fuzz
