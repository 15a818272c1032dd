// SPDX-License-Identifier: Apache-2.0
// The memfd holding the manifest. A preserved memfd cannot change size, so it is made at
// its full capacity up front: a one-page header, then two slots. A write goes to the slot
// not in use, then the header (a single small write within one page, which a killed
// process cannot leave half done) switches to it, so a reader always finds a whole manifest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "luo/unique_fd.h"

namespace luod {

class ManifestStore {
public:
    // A new memfd of `size` bytes (at least three pages). Throws luo::Error.
    static ManifestStore create(std::size_t size);
    // An existing manifest memfd (from the fd store or retrieved after a kexec).
    static ManifestStore adopt(luo::UniqueFd fd);

    [[nodiscard]] int fd() const { return fd_.get(); }
    // The largest manifest that fits.
    [[nodiscard]] std::size_t slot_capacity() const { return slot_size_; }
    [[nodiscard]] bool fits(std::size_t bytes) const { return bytes <= slot_size_; }

    // Writes a manifest. Throws luo::Error (EFBIG when it does not fit).
    void write(std::string_view manifest);
    // The current manifest; nullopt when the memfd holds none (fresh, or not a manifest
    // store). Throws luo::Error on I/O errors.
    [[nodiscard]] std::optional<std::string> read() const;

private:
    explicit ManifestStore(luo::UniqueFd fd, std::size_t slot_size) : fd_(std::move(fd)), slot_size_(slot_size) {}

    luo::UniqueFd fd_;
    std::size_t slot_size_ = 0;
    std::uint64_t generation_ = 0;
};

}  // namespace luod
