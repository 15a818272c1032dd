// SPDX-License-Identifier: Apache-2.0
#include "handover.h"

#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "profile.h"

namespace luo::kmodel {

namespace {

// Wire structs, all packed in the kernel; fixed-width fields at natural offsets here.
struct LuoSer {
    char compatible[8];
    std::uint64_t liveupdate_num;
    std::uint64_t sessions_pa;
    std::uint64_t flbs_pa;
};
static_assert(sizeof(LuoSer) == 32);

struct BlockHeader {
    std::uint64_t next;
    std::uint64_t count;
};
static_assert(sizeof(BlockHeader) == kBlockHeaderSize);

struct SessionSer {
    char name[64];
    std::uint64_t files_pa;
    std::uint64_t files_count;
};
static_assert(sizeof(SessionSer) == kSessionEntrySize);

struct FileSer {
    char compatible[kCompatibleLength];
    std::uint64_t data;
    std::uint64_t token;
};
static_assert(sizeof(FileSer) == kFileEntrySize);

class Writer {
public:
    std::size_t allocate(std::size_t bytes, std::size_t align)
    {
        std::size_t at = (blob_.size() + align - 1) / align * align;
        blob_.resize(at + bytes);
        return at;
    }
    template <typename T>
    void put(std::size_t at, const T& value) { std::memcpy(blob_.data() + at, &value, sizeof value); }
    void put_bytes(std::size_t at, std::span<const std::byte> bytes) { std::memcpy(blob_.data() + at, bytes.data(), bytes.size()); }
    std::vector<std::byte> take() { return std::move(blob_); }

private:
    std::vector<std::byte> blob_;
};

// Writes `count` entries into a chain of blocks; returns the first block's offset (0 when
// count is 0). `write_entry(i, offset)` fills entry i.
template <typename WriteEntry>
std::uint64_t write_chain(Writer& w, std::size_t count, std::size_t per_block, std::size_t entry_size,
                          WriteEntry write_entry)
{
    std::uint64_t first = 0;
    std::size_t prev = 0;
    for (std::size_t start = 0; start < count; start += per_block) {
        std::size_t block = w.allocate(kBlockSize, kBlockSize);
        std::size_t n = std::min(per_block, count - start);
        w.put(block, BlockHeader{0, n});
        if (first == 0)
            first = block;
        else
            w.put(prev + offsetof(BlockHeader, next), static_cast<std::uint64_t>(block));
        for (std::size_t i = 0; i < n; ++i)
            write_entry(start + i, block + kBlockHeaderSize + i * entry_size);
        prev = block;
    }
    return first;
}

template <typename T>
bool read_at(std::span<const std::byte> blob, std::uint64_t at, T& out)
{
    if (at > blob.size() || blob.size() - at < sizeof(T))
        return false;
    std::memcpy(&out, blob.data() + at, sizeof(T));
    return true;
}

std::optional<std::string> bounded_string(const char* chars, std::size_t capacity)
{
    std::size_t n = strnlen(chars, capacity);
    if (n == capacity)
        return std::nullopt;  // no terminating NUL
    return std::string(chars, n);
}

// Walks a block chain, checking what the kernel checks: every block inside the blob,
// no cycle, at most max_blocks blocks, every count within 1..per_block. Stricter than the
// kernel, a block may belong to one chain only (`claimed` spans all chains of a blob):
// chains sharing blocks would multiply the work and memory of a restore.
template <typename Visit>
int walk_chain(std::span<const std::byte> blob, std::uint64_t first, std::size_t per_block, std::size_t entry_size,
               std::uint32_t max_blocks, std::unordered_set<std::uint64_t>& claimed, Visit visit)
{
    std::uint32_t blocks = 0;
    for (std::uint64_t at = first; at != 0;) {
        if (blocks++ >= max_blocks || !claimed.insert(at).second)
            return -EINVAL;
        if (at % 8 != 0 || at > blob.size() || blob.size() - at < kBlockSize)
            return -EINVAL;
        BlockHeader h;
        read_at(blob, at, h);
        if (h.count == 0 || h.count > per_block)
            return -EINVAL;
        for (std::uint64_t i = 0; i < h.count; ++i)
            if (int rc = visit(at + kBlockHeaderSize + i * entry_size); rc < 0)
                return rc;
        at = h.next;
    }
    return 0;
}

}  // namespace

std::vector<std::byte> serialize_handover(const Handover& handover, std::string_view compatible)
{
    Writer w;
    w.allocate(kBlockSize, kBlockSize);  // page 0: the header

    // Blocks first, handler data after them, so offsets are known when entries are written.
    struct DataSlot {
        std::size_t entry;
        const std::vector<std::byte>* data;
    };
    std::vector<DataSlot> data_slots;
    std::uint64_t sessions = write_chain(w, handover.sessions.size(), kSessionsPerBlock, kSessionEntrySize,
                                         [&](std::size_t i, std::size_t at) {
        const HandoverSession& s = handover.sessions[i];
        SessionSer ser{};
        std::memcpy(ser.name, s.name.data(), std::min(s.name.size(), sizeof ser.name - 1));
        ser.files_count = s.files.size();
        w.put(at, ser);
        std::uint64_t files = write_chain(w, s.files.size(), kFilesPerBlock, kFileEntrySize,
                                          [&](std::size_t j, std::size_t fat) {
            const HandoverFile& f = s.files[j];
            FileSer fser{};
            std::memcpy(fser.compatible, f.compatible.data(), std::min(f.compatible.size(), sizeof fser.compatible - 1));
            fser.token = f.token;
            w.put(fat, fser);
            data_slots.push_back({fat, &f.data});
        });
        w.put(at + offsetof(SessionSer, files_pa), files);
    });
    for (const DataSlot& slot : data_slots) {
        std::size_t at = w.allocate(slot.data->size(), 8);
        w.put_bytes(at, *slot.data);
        w.put(slot.entry + offsetof(FileSer, data), static_cast<std::uint64_t>(at));
    }

    LuoSer header{};
    std::memcpy(header.compatible, compatible.data(), std::min(compatible.size(), sizeof header.compatible - 1));
    header.liveupdate_num = handover.liveupdate_num;
    header.sessions_pa = sessions;
    w.put(0, header);
    return w.take();
}

int deserialize_handover(std::span<const std::byte> blob, std::string_view compatible, std::uint32_t max_blocks,
                         const HandlerDataSize& data_size, Handover& out)
{
    LuoSer header;
    if (!read_at(blob, 0, header))
        return -EINVAL;
    auto found = bounded_string(header.compatible, sizeof header.compatible);
    if (!found || *found != compatible)
        return -EINVAL;

    Handover result;
    result.liveupdate_num = header.liveupdate_num;
    std::unordered_set<std::uint64_t> claimed;
    int rc = walk_chain(blob, header.sessions_pa, kSessionsPerBlock, kSessionEntrySize, max_blocks, claimed,
                        [&](std::uint64_t at) {
        SessionSer ser;
        read_at(blob, at, ser);
        auto name = bounded_string(ser.name, sizeof ser.name);
        if (!name)
            return -EINVAL;
        HandoverSession session{*name, {}};
        int frc = walk_chain(blob, ser.files_pa, kFilesPerBlock, kFileEntrySize, max_blocks, claimed,
                             [&](std::uint64_t fat) {
            FileSer fser;
            read_at(blob, fat, fser);
            auto handler = bounded_string(fser.compatible, sizeof fser.compatible);
            if (!handler)
                return -EINVAL;
            auto size = data_size(*handler);
            if (!size)
                return -ENOENT;
            if (fser.data == 0 || fser.data > blob.size() || blob.size() - fser.data < *size)
                return -EINVAL;
            HandoverFile file{*handler, fser.token, {}};
            auto first = blob.begin() + static_cast<std::ptrdiff_t>(fser.data);
            file.data.assign(first, first + static_cast<std::ptrdiff_t>(*size));
            session.files.push_back(std::move(file));
            return 0;
        });
        if (frc < 0)
            return frc;
        if (session.files.size() != ser.files_count)
            return -EINVAL;
        result.sessions.push_back(std::move(session));
        return 0;
    });
    if (rc < 0)
        return rc;
    out = std::move(result);
    return 0;
}

}  // namespace luo::kmodel
