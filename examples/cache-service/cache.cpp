// SPDX-License-Identifier: Apache-2.0
#include "cache.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

#include "luo/error.h"

namespace cache_service {

Mapping::Mapping(int fd, std::size_t size)
{
    void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (data == MAP_FAILED)
        luo::throw_last_errno("mmap cache");
    data_ = data;
    size_ = size;
}

Mapping::Mapping(Mapping&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0))
{
}

Mapping& Mapping::operator=(Mapping&& other) noexcept
{
    if (this != &other) {
        unmap();
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

Mapping::~Mapping() { unmap(); }

void Mapping::unmap() noexcept
{
    if (data_)
        ::munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
}

Cache::Cache(luo::UniqueFd memfd, Mapping mapping) : memfd_(std::move(memfd)), mapping_(std::move(mapping)) {}

CacheHeader& Cache::header() const noexcept { return *static_cast<CacheHeader*>(mapping_.data()); }

CacheEntry* Cache::entries() const noexcept
{
    return static_cast<CacheEntry*>(static_cast<void*>(static_cast<std::byte*>(mapping_.data()) + kEntriesOffset));
}

Cache Cache::create(std::uint64_t size_bytes)
{
    if (size_bytes < kEntriesOffset + sizeof(CacheEntry))
        throw InvalidCache("a cache needs at least " + std::to_string(kEntriesOffset + sizeof(CacheEntry)) + " bytes");
    luo::UniqueFd memfd(::memfd_create("luo-cache", MFD_CLOEXEC));
    if (!memfd)
        luo::throw_last_errno("memfd_create");
    // The final size now: once preserved, the kernel refuses to grow or shrink the memfd.
    if (::ftruncate(memfd.get(), static_cast<off_t>(size_bytes)) < 0)
        luo::throw_last_errno("ftruncate cache");
    Mapping mapping(memfd.get(), size_bytes);
    Cache cache(std::move(memfd), std::move(mapping));
    CacheHeader& h = cache.header();  // a fresh memfd reads as zeros: only the fields to set
    h.magic = kCacheMagic;
    h.version = kCacheVersion;
    h.entry_size = sizeof(CacheEntry);
    h.file_size = size_bytes;
    h.capacity = (size_bytes - kEntriesOffset) / sizeof(CacheEntry);
    return cache;
}

Cache Cache::open(luo::UniqueFd memfd)
{
    struct stat st;
    if (::fstat(memfd.get(), &st) < 0)
        luo::throw_last_errno("fstat cache");
    auto size = static_cast<std::uint64_t>(st.st_size);
    if (size < kEntriesOffset + sizeof(CacheEntry))
        throw InvalidCache("the memfd holds " + std::to_string(size) + " bytes, too few for a cache");
    Mapping mapping(memfd.get(), size);
    Cache cache(std::move(memfd), std::move(mapping));
    CacheHeader& h = cache.header();
    if (h.magic != kCacheMagic)
        throw InvalidCache("no cache header (bad magic)");
    if (h.version != kCacheVersion || h.entry_size != sizeof(CacheEntry))
        throw InvalidCache("cache layout version " + std::to_string(h.version) + " with " +
                           std::to_string(h.entry_size) + "-byte entries; this build reads version " +
                           std::to_string(kCacheVersion));
    if (h.file_size != size || h.capacity != (size - kEntriesOffset) / sizeof(CacheEntry))
        throw InvalidCache("the header describes " + std::to_string(h.file_size) + " bytes, the memfd has " +
                           std::to_string(size));
    if (h.entry_count > h.capacity || h.entry_count > h.generation)
        throw InvalidCache("inconsistent header: " + std::to_string(h.entry_count) + " entries at generation " +
                           std::to_string(h.generation));
    // An update interrupted between its two header stores leaves the count one behind.
    h.entry_count = std::min(h.generation, h.capacity);
    return cache;
}

void Cache::count_live_update() noexcept { ++header().live_updates; }

void Cache::update()
{
    CacheHeader& h = header();
    std::uint64_t next = h.generation + 1;
    CacheEntry& slot = entries()[(next - 1) % h.capacity];
    slot.generation = next;
    auto now = std::chrono::system_clock::now().time_since_epoch();
    slot.written_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
    // The generation is stored after the entry it announces, the count after that: the pages
    // the kernel carries over are whatever they hold at the kexec, so this order keeps a cache
    // caught mid-update readable (open() then repairs the count).
    std::atomic_ref(h.generation).store(next, std::memory_order_release);
    std::atomic_ref(h.entry_count).store(std::min(next, h.capacity), std::memory_order_release);
}

}  // namespace cache_service
