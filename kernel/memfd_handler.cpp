// SPDX-License-Identifier: Apache-2.0
// memfd handler (docs/kernel-abi.md §4.1): "memfd-v1" in the 6.19 profile, "memfd-v2" (seals) from 7.1.
//
// What the model carries: the memfd's inode itself, as an fd inherited across the exec, so
// no byte is copied however large the file. Size and position are captured at freeze and
// the position is restored on retrieve; the retrieved file is a new open file description
// (O_RDWR) on the same inode.
//
// What the model cannot enforce by itself, unlike the kernel: while preserved, a client
// holding the memfd can still change its size (the kernel fails ftruncate to another size,
// fallocate and writes past the end with EPERM); the model records the size it finds at
// freeze. It answers whether a file is frozen (LuoCore::size_frozen), and the preload library
// (libluo/preload) refuses those calls as the kernel does for the programs it is loaded into.
// In the 6.19 profile the kernel dropped seals across the kexec; the model carries the same
// inode, so seals survive there too.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "file_handler.h"
#include "luo/uapi.h"
#include "profile.h"

namespace luo::kmodel {

namespace {

constexpr std::uint64_t kPageSize = 4096;

// Memory of a preserved memfd in the handover: the kernel's kho_vmalloc descriptor; in the
// model its first word is the index of the inherited fd carrying the pages.
struct KhoVmalloc {
    std::uint64_t first;
    std::uint64_t reserved;
};

struct MemfdSerV1 {
    std::uint64_t pos;
    std::uint64_t size;
    std::uint64_t nr_folios;
    KhoVmalloc folios;
};
static_assert(sizeof(MemfdSerV1) == 40);

struct MemfdSerV2 {
    std::uint64_t pos;
    std::uint64_t size;
    std::uint32_t seals;
    std::uint32_t flags;
    std::uint64_t nr_folios;
    KhoVmalloc folios;
};
static_assert(sizeof(MemfdSerV2) == 48);

constexpr int kPreservableSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
                                  F_SEAL_FUTURE_WRITE | luo::uapi::kSealExec;

bool is_unlinked_shmem(int fd, struct stat* st_out = nullptr)
{
    struct stat st;
    struct statfs sfs;
    if (::fstat(fd, &st) < 0 || ::fstatfs(fd, &sfs) < 0)
        return false;
    if (st_out)
        *st_out = st;
    // memfd_create() files and O_TMPFILE tmpfs files; hugetlbfs memfds are refused.
    return S_ISREG(st.st_mode) && st.st_nlink == 0 && sfs.f_type == TMPFS_MAGIC;
}

class MemfdHandler final : public FileHandler {
public:
    explicit MemfdHandler(const Profile& profile)
        : compatible_(profile.memfd_compatible), seals_(profile.memfd_seals), size_check_(profile.memfd_size_check)
    {
    }

    [[nodiscard]] std::string compatible() const override { return compatible_; }
    [[nodiscard]] std::size_t data_size() const override { return seals_ ? sizeof(MemfdSerV2) : sizeof(MemfdSerV1); }

    [[nodiscard]] bool can_preserve(int fd) const override { return is_unlinked_shmem(fd); }
    [[nodiscard]] bool freezes_size() const override { return true; }

    [[nodiscard]] std::string file_id(int fd) const override
    {
        struct stat st{};
        ::fstat(fd, &st);
        return "shmem:" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    }

    int preserve(OutgoingFile& file) override
    {
        struct stat st;
        if (::fstat(file.file.get(), &st) < 0)
            return -errno;
        if (seals_) {
            int seals = ::fcntl(file.file.get(), F_GET_SEALS);
            if (seals > 0 && (seals & ~kPreservableSeals))
                return -EOPNOTSUPP;
        }
        if (size_check_ && (static_cast<std::uint64_t>(st.st_size) + kPageSize - 1) / kPageSize > UINT32_MAX)
            return -EFBIG;
        return 0;
    }

    int freeze(OutgoingFile& file, HandoverMemory& memory, std::vector<std::byte>& data) override
    {
        int fd = file.file.get();
        struct stat st;
        if (::fstat(fd, &st) < 0)
            return -errno;
        off_t pos = ::lseek(fd, 0, SEEK_CUR);  // the kernel re-reads f_pos at freeze
        if (pos < 0)
            return -errno;
        auto size = static_cast<std::uint64_t>(st.st_size);
        KhoVmalloc folios{memory.fds.size(), 0};
        memory.fds.push_back(fd);
        std::uint64_t pages = (size + kPageSize - 1) / kPageSize;
        if (seals_) {
            int seals = ::fcntl(fd, F_GET_SEALS);
            MemfdSerV2 ser{static_cast<std::uint64_t>(pos), size, static_cast<std::uint32_t>(seals < 0 ? 0 : seals),
                           0, pages, folios};
            put(data, ser);
        } else {
            put(data, MemfdSerV1{static_cast<std::uint64_t>(pos), size, pages, folios});
        }
        return 0;
    }

    void unfreeze(OutgoingFile&) override {}

    int restore(IncomingFile& file, std::span<UniqueFd> memory) override
    {
        std::uint64_t size, index;
        if (seals_) {
            MemfdSerV2 ser;
            if (!get(file.data, ser) || ser.flags != 0)
                return -EINVAL;
            size = ser.size;
            index = ser.folios.first;
        } else {
            MemfdSerV1 ser;
            if (!get(file.data, ser))
                return -EINVAL;
            size = ser.size;
            index = ser.folios.first;
        }
        if (index >= memory.size() || !memory[index])
            return -EINVAL;
        struct stat st;
        if (!is_unlinked_shmem(memory[index].get(), &st) || static_cast<std::uint64_t>(st.st_size) != size)
            return -EINVAL;
        file.memory = std::move(memory[index]);
        return 0;
    }

    int retrieve(IncomingFile& file, UniqueFd& out) override
    {
        if (!file.memory)
            return -ENOENT;
        // A new file on the preserved inode, like the kernel's shmem_file_setup + pages.
        std::string self = "/proc/self/fd/" + std::to_string(file.memory.get());
        UniqueFd fd(::open(self.c_str(), O_RDWR | O_CLOEXEC | O_LARGEFILE));
        if (!fd)
            return -errno;
        std::uint64_t pos = 0;  // offset 0 in both layouts
        std::memcpy(&pos, file.data.data(), sizeof pos);
        if (::lseek(fd.get(), static_cast<off_t>(pos), SEEK_SET) < 0)
            return -errno;
        out = std::move(fd);
        return 0;
    }

    [[nodiscard]] bool can_finish(const IncomingFile&) const override { return true; }

    void finish(IncomingFile& file) override
    {
        // Unretrieved pages are freed; retrieved ones now belong to the retriever's file.
        file.memory.reset();
        file.retrieved.reset();
    }

private:
    template <typename T>
    static void put(std::vector<std::byte>& data, const T& value)
    {
        auto b = std::as_bytes(std::span(&value, 1));
        data.assign(b.begin(), b.end());
    }
    template <typename T>
    static bool get(const std::vector<std::byte>& data, T& value)
    {
        if (data.size() != sizeof value)
            return false;
        std::memcpy(&value, data.data(), sizeof value);
        return true;
    }
    std::string compatible_;
    bool seals_;
    bool size_check_;
};

}  // namespace

std::unique_ptr<FileHandler> make_memfd_handler(const Profile& profile)
{
    return std::make_unique<MemfdHandler>(profile);
}

}  // namespace luo::kmodel
