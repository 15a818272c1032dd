// SPDX-License-Identifier: Apache-2.0
// File handlers of the model, after the kernel's struct liveupdate_file_ops (docs/kernel-abi.md §4):
// each knows one file type (memfd, vfio-pci), decides whether it can preserve a file,
// freezes it into serialized data at reboot and recreates it in the next kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "luo/unique_fd.h"

namespace luo::kmodel {

class FakeHardware;
struct Profile;

// An outgoing file: the model's own reference to what the client preserved.
struct OutgoingFile {
    std::uint64_t token = 0;
    class FileHandler* handler = nullptr;
    UniqueFd file;
    std::string id;  // duplicate-preservation key (the kernel's get_id())
};

// An incoming file, recreated from the handover.
struct IncomingFile {
    std::uint64_t token = 0;
    class FileHandler* handler = nullptr;
    std::vector<std::byte> data;  // the handler's serialized struct
    UniqueFd memory;              // the preserved memory carried across the kexec, if any
    int retrieve_status = 0;      // 0 never tried, 1 retrieved, <0 the sticky failure errno
    UniqueFd retrieved;           // the file handed out; retrieving again returns a dup
    std::string id;               // duplicate-preservation key of the retrieved file
};

// Collects the memory a freeze hands to the next kernel (inherited fds across exec).
struct HandoverMemory {
    std::vector<int> fds;  // borrowed from the outgoing files; index = "physical address"
};

class FileHandler {
public:
    virtual ~FileHandler() = default;
    [[nodiscard]] virtual std::string compatible() const = 0;
    [[nodiscard]] virtual std::size_t data_size() const = 0;

    // can_preserve(): a cheap check of the file type.
    [[nodiscard]] virtual bool can_preserve(int fd) const = 0;
    // Whether preserve() freezes the file's size until unpreserve (the kernel's memfd
    // handler does: grow, shrink and fallocate fail with EPERM while it is preserved).
    [[nodiscard]] virtual bool freezes_size() const { return false; }
    // The key LUO uses to refuse double preservation (7.1+).
    [[nodiscard]] virtual std::string file_id(int fd) const = 0;
    // preserve(): 0 or -errno. The file is already the model's own reference.
    virtual int preserve(OutgoingFile& file) = 0;
    // freeze() inside reboot: 0 and the serialized data, or -errno to abort the kexec.
    virtual int freeze(OutgoingFile& file, HandoverMemory& memory, std::vector<std::byte>& data) = 0;
    virtual void unfreeze(OutgoingFile& file) = 0;

    // Restores an incoming file from its data and the inherited memory fds at boot:
    // 0, or -EINVAL for data that does not describe a valid file.
    virtual int restore(IncomingFile& file, std::span<UniqueFd> memory) = 0;
    // retrieve(): 0 and a new fd, or -errno.
    virtual int retrieve(IncomingFile& file, UniqueFd& out) = 0;
    [[nodiscard]] virtual bool can_finish(const IncomingFile& file) const = 0;
    // finish(): drops what the handler holds (unretrieved memfd memory is freed).
    virtual void finish(IncomingFile& file) = 0;
};

std::unique_ptr<FileHandler> make_memfd_handler(const Profile& profile);
std::unique_ptr<FileHandler> make_vfio_handler(FakeHardware& hardware);

}  // namespace luo::kmodel
