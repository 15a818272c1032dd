// SPDX-License-Identifier: Apache-2.0
// The cache of luo-cache-service: a memfd holding a header and a ring of entries, updated in
// place through a shared mapping. The memfd is what luod preserves; the layout is ours, and
// versioned, because the next kernel's service may be a newer build.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "luo/unique_fd.h"

namespace cache_service {

inline constexpr std::array<char, 8> kCacheMagic = {'L', 'U', 'O', 'C', 'A', 'C', 'H', 'E'};
inline constexpr std::uint32_t kCacheVersion = 1;

struct CacheHeader {
    std::array<char, 8> magic;
    std::uint32_t version;
    std::uint32_t entry_size;   // sizeof(CacheEntry) of the writer
    std::uint64_t file_size;    // the memfd's size, fixed while it is preserved
    std::uint64_t capacity;     // entries that fit after the header
    std::uint64_t generation;   // bumped by every update, after its entry is written
    std::uint64_t entry_count;  // valid entries: min(generation, capacity)
    std::uint64_t live_updates; // live updates this cache went through
};

struct CacheEntry {
    std::uint64_t generation;  // the update that wrote it
    std::int64_t written_unix_ns;
};

// Entries start at this offset, so that they are naturally aligned whatever the header.
inline constexpr std::size_t kEntriesOffset = 64;
static_assert(sizeof(CacheHeader) <= kEntriesOffset);

// What a memfd that is not a cache of ours (or of a layout we do not know) is refused with.
class InvalidCache : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A MAP_SHARED mapping of a whole file, unmapped on destruction.
class Mapping {
public:
    Mapping() = default;
    Mapping(int fd, std::size_t size);
    Mapping(Mapping&& other) noexcept;
    Mapping& operator=(Mapping&& other) noexcept;
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping();

    [[nodiscard]] void* data() const noexcept { return data_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    void unmap() noexcept;
    void* data_ = nullptr;
    std::size_t size_ = 0;
};

class Cache {
public:
    // A new memfd of `size_bytes` (its final size: a preserved memfd cannot be resized),
    // with an empty cache in it.
    static Cache create(std::uint64_t size_bytes);
    // Takes a memfd that should hold a cache (retrieved after an update, or kept by systemd
    // across a restart) and validates it; throws InvalidCache when it does not.
    static Cache open(luo::UniqueFd memfd);

    [[nodiscard]] int fd() const noexcept { return memfd_.get(); }
    [[nodiscard]] std::uint64_t size_bytes() const noexcept { return header().file_size; }
    [[nodiscard]] std::uint64_t capacity() const noexcept { return header().capacity; }
    [[nodiscard]] std::uint64_t generation() const noexcept { return header().generation; }
    [[nodiscard]] std::uint64_t entry_count() const noexcept { return header().entry_count; }
    [[nodiscard]] std::uint64_t live_updates() const noexcept { return header().live_updates; }

    // Records that the cache came through a live update.
    void count_live_update() noexcept;
    // Bumps the generation and writes its entry in place (the ring's oldest slot).
    void update();

private:
    Cache(luo::UniqueFd memfd, Mapping mapping);
    [[nodiscard]] CacheHeader& header() const noexcept;
    [[nodiscard]] CacheEntry* entries() const noexcept;

    luo::UniqueFd memfd_;
    Mapping mapping_;
};

}  // namespace cache_service
