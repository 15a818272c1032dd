// SPDX-License-Identifier: Apache-2.0
#include "manifest_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "luo/error.h"

namespace luod {

namespace {

constexpr std::size_t kHeaderSize = 4096;
constexpr char kMagic[8] = {'L', 'U', 'O', 'D', 'M', 'A', 'N', '1'};

struct Header {
    char magic[8];
    std::uint64_t generation;
    std::uint64_t slot;    // 0 or 1
    std::uint64_t length;  // bytes of JSON in the slot
    std::uint64_t checksum;
};

std::uint64_t fnv1a(std::string_view data)
{
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : data)
        h = (h ^ c) * 0x100000001b3ull;
    return h;
}

void pwrite_all(int fd, const void* data, std::size_t size, off_t at)
{
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = ::pwrite(fd, p, size, at);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            luo::throw_last_errno("write manifest");
        }
        p += n;
        at += n;
        size -= static_cast<std::size_t>(n);
    }
}

bool pread_all(int fd, void* data, std::size_t size, off_t at)
{
    auto* p = static_cast<char*>(data);
    while (size > 0) {
        ssize_t n = ::pread(fd, p, size, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            luo::throw_last_errno("read manifest");
        if (n == 0)
            return false;
        p += n;
        at += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

std::size_t slot_size_for(std::size_t file_size)
{
    return file_size > kHeaderSize ? (file_size - kHeaderSize) / 2 : 0;
}

}  // namespace

ManifestStore ManifestStore::create(std::size_t size)
{
    if (size < 3 * kHeaderSize)
        luo::throw_errno(EINVAL, "manifest store too small");
    luo::UniqueFd fd(::memfd_create("luod-manifest", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd)
        luo::throw_last_errno("memfd_create");
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0)
        luo::throw_last_errno("size the manifest memfd");
    // Its size is fixed for good, as the kernel fixes it while it is preserved.
    ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
    return ManifestStore(std::move(fd), slot_size_for(size));
}

ManifestStore ManifestStore::adopt(luo::UniqueFd fd)
{
    struct stat st;
    if (::fstat(fd.get(), &st) < 0)
        luo::throw_last_errno("stat manifest memfd");
    ManifestStore store(std::move(fd), slot_size_for(static_cast<std::size_t>(st.st_size)));
    Header h{};
    if (store.slot_size_ > 0 && pread_all(store.fd(), &h, sizeof h, 0) && std::memcmp(h.magic, kMagic, 8) == 0)
        store.generation_ = h.generation;
    return store;
}

void ManifestStore::write(std::string_view manifest)
{
    if (!fits(manifest.size()))
        luo::throw_errno(EFBIG, "the manifest (" + std::to_string(manifest.size()) + " bytes) exceeds its " +
                                    std::to_string(slot_size_) + "-byte slot");
    Header current{};
    std::uint64_t slot = 0;
    if (pread_all(fd(), &current, sizeof current, 0) && std::memcmp(current.magic, kMagic, 8) == 0)
        slot = current.slot == 0 ? 1 : 0;
    pwrite_all(fd(), manifest.data(), manifest.size(), static_cast<off_t>(kHeaderSize + slot * slot_size_));
    Header h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.generation = ++generation_;
    h.slot = slot;
    h.length = manifest.size();
    h.checksum = fnv1a(manifest);
    pwrite_all(fd(), &h, sizeof h, 0);
}

std::optional<std::string> ManifestStore::read() const
{
    Header h{};
    if (slot_size_ == 0 || !pread_all(fd(), &h, sizeof h, 0) || std::memcmp(h.magic, kMagic, 8) != 0)
        return std::nullopt;
    if (h.slot > 1 || h.length > slot_size_)
        return std::nullopt;
    std::string text(h.length, '\0');
    if (!pread_all(fd(), text.data(), text.size(), static_cast<off_t>(kHeaderSize + h.slot * slot_size_)))
        return std::nullopt;
    if (fnv1a(text) != h.checksum)
        return std::nullopt;
    return text;
}

}  // namespace luod
