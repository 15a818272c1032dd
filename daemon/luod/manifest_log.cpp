// SPDX-License-Identifier: Apache-2.0
#include "manifest_log.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "luo/error.h"

namespace luod {

namespace {

constexpr std::uint32_t kEntryMagic = 0x474c4d4c;  // "LMLG"

struct EntryHeader {
    std::uint32_t magic;
    std::uint32_t reserved;
    std::uint64_t epoch;
    std::uint64_t seq;
    std::uint64_t length;
    std::uint64_t checksum;
};
static_assert(sizeof(EntryHeader) == ManifestLog::kEntryHeader);

constexpr std::uint64_t kFnvBasis = 0xcbf29ce484222325ull;

std::uint64_t fnv1a(std::uint64_t h, const void* data, std::size_t size)
{
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

std::uint64_t checksum_of(const EntryHeader& h, std::string_view payload)
{
    std::uint64_t sum = fnv1a(kFnvBasis, &h.epoch, sizeof h.epoch);
    sum = fnv1a(sum, &h.seq, sizeof h.seq);
    sum = fnv1a(sum, &h.length, sizeof h.length);
    return fnv1a(sum, payload.data(), payload.size());
}

// Whether `h`, read at `at`, heads an entry of the log's `epoch` that fits in its `capacity`
// (and is entry `seq`, when one is wanted). Every read checks an entry this one way.
bool heads_entry(const EntryHeader& h, std::uint64_t epoch, std::size_t at, std::size_t capacity,
                 std::optional<std::uint64_t> seq = std::nullopt)
{
    return h.magic == kEntryMagic && h.epoch == epoch && (!seq || h.seq == *seq) && h.length <= capacity - at - sizeof h;
}

}  // namespace

luo::UniqueFd ManifestLog::make_segment(std::size_t size)
{
    luo::UniqueFd fd(::memfd_create("luod-manifest-log", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd)
        luo::throw_last_errno("memfd_create");
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0)
        luo::throw_last_errno("size a manifest segment");
    ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
    return fd;
}

void ManifestLog::add_segment(std::uint64_t token, luo::UniqueFd fd)
{
    segments_.push_back(Segment{token, std::move(fd), {}});
}

void ManifestLog::add_segment_later(std::uint64_t token, Fetch fetch)
{
    segments_.push_back(Segment{token, luo::UniqueFd(), std::move(fetch)});
}

std::size_t ManifestLog::segments_fetched() const
{
    return static_cast<std::size_t>(
        std::count_if(segments_.begin(), segments_.end(), [](const Segment& s) { return s.fd.valid(); }));
}

ManifestLog::Segment* ManifestLog::readable(std::size_t index)
{
    Segment& seg = segments_.at(index);
    if (seg.fd.valid())
        return &seg;
    luo::UniqueFd fd = seg.fetch ? seg.fetch(seg.token) : luo::UniqueFd();
    if (!fd.valid())
        luo::throw_errno(ENOENT, "segment " + std::to_string(seg.token) + " of the manifest log is missing");
    struct stat st;
    if (::fstat(fd.get(), &st) < 0 || static_cast<std::size_t>(st.st_size) != segment_size_) {
        segments_.resize(index);  // the log ends before it, as drop_resized_segments() says
        return nullptr;
    }
    seg.fd = std::move(fd);
    seg.fetch = nullptr;
    return &seg;
}

std::vector<std::uint64_t> ManifestLog::tokens() const
{
    std::vector<std::uint64_t> out;
    out.reserve(segments_.size());
    for (const Segment& s : segments_)
        out.push_back(s.token);
    return out;
}

void ManifestLog::write_at(std::size_t offset, const char* data, std::size_t size)
{
    while (size > 0) {
        const Segment& seg = segments_.at(offset / segment_size_);
        std::size_t within = offset % segment_size_;
        std::size_t chunk = std::min(size, segment_size_ - within);
        ssize_t n = ::pwrite(seg.fd.get(), data, chunk, static_cast<off_t>(within));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            luo::throw_last_errno("write the manifest log");
        }
        if (n == 0)
            luo::throw_errno(EIO, "write the manifest log: no progress");
        data += n;
        offset += static_cast<std::size_t>(n);
        size -= static_cast<std::size_t>(n);
    }
}

bool ManifestLog::read_at(std::size_t offset, char* data, std::size_t size)
{
    if (offset > capacity() || size > capacity() - offset)
        return false;
    while (size > 0) {
        const Segment* seg = readable(offset / segment_size_);
        if (!seg)
            return false;
        std::size_t within = offset % segment_size_;
        std::size_t chunk = std::min(size, segment_size_ - within);
        ssize_t n = ::pread(seg->fd.get(), data, chunk, static_cast<off_t>(within));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            luo::throw_last_errno("read the manifest log");
        if (n == 0)
            return false;
        data += n;
        offset += static_cast<std::size_t>(n);
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

void ManifestLog::append(std::string_view payload)
{
    std::size_t size = entry_size(payload.size());
    if (size > room())
        luo::throw_errno(EFBIG, "the manifest log is full");
    EntryHeader h{kEntryMagic, 0, epoch_, next_seq_, payload.size(), 0};
    h.checksum = checksum_of(h, payload);
    // One write of header and payload: a reader sees the entry whole or not at all.
    std::string entry(size, '\0');
    std::memcpy(entry.data(), &h, sizeof h);
    std::memcpy(entry.data() + sizeof h, payload.data(), payload.size());
    write_at(end_, entry.data(), entry.size());
    end_ += size;
    ++next_seq_;
}

void ManifestLog::drop_resized_segments()
{
    // Segments of another size than the chain's end the log before them.
    std::size_t usable = 0;
    for (const Segment& s : segments_) {
        struct stat st;
        if (s.fd.valid() &&
            (::fstat(s.fd.get(), &st) < 0 || static_cast<std::size_t>(st.st_size) != segment_size_))
            break;
        ++usable;
    }
    segments_.resize(usable);
}

namespace {

// Views of the log's bytes through a buffer refilled in large reads: a log of 20,000 small
// entries took 40,000 pread(2)s at two calls per entry, most of luod's time after a kexec with
// 5,000 sessions.
class ChunkedReader {
public:
    using ReadAt = std::function<bool(std::size_t offset, char* data, std::size_t size)>;
    ChunkedReader(std::size_t capacity, ReadAt read_at) : capacity_(capacity), read_at_(std::move(read_at)) {}

    // [offset, offset + size), valid until the next call; nullopt past the log's capacity.
    std::optional<std::string_view> view(std::size_t offset, std::size_t size)
    {
        if (offset < buffer_at_ || offset - buffer_at_ > buffer_.size() ||
            size > buffer_.size() - (offset - buffer_at_)) {
            if (offset > capacity_ || size > capacity_ - offset)
                return std::nullopt;
            buffer_.resize(std::min(std::max(size, kChunk), capacity_ - offset));
            if (!read_at_(offset, buffer_.data(), buffer_.size()))
                return std::nullopt;
            buffer_at_ = offset;
        }
        return std::string_view(buffer_).substr(offset - buffer_at_, size);
    }

private:
    static constexpr std::size_t kChunk = 1 << 20;
    std::size_t capacity_;
    ReadAt read_at_;
    std::string buffer_;
    std::size_t buffer_at_ = 0;
};

// The header of entry `seq` at `at`, when the log goes on there.
std::optional<EntryHeader> header_at(ChunkedReader& reader, std::size_t at, std::uint64_t epoch, std::uint64_t seq,
                                     std::size_t capacity)
{
    std::optional<std::string_view> raw = reader.view(at, sizeof(EntryHeader));
    if (!raw)
        return std::nullopt;
    EntryHeader h{};
    std::memcpy(&h, raw->data(), sizeof h);
    if (!heads_entry(h, epoch, at, capacity, seq))
        return std::nullopt;
    return h;
}

}  // namespace

std::vector<std::string> ManifestLog::read()
{
    drop_resized_segments();
    ChunkedReader reader(capacity(), [this](std::size_t o, char* d, std::size_t n) { return read_at(o, d, n); });
    std::vector<std::string> out;
    std::size_t at = 0;
    std::uint64_t seq = 1;
    for (;;) {
        std::optional<EntryHeader> next = header_at(reader, at, epoch_, seq, capacity());
        if (!next)
            break;
        const EntryHeader& h = *next;
        std::optional<std::string_view> payload = reader.view(at + sizeof h, h.length);
        if (!payload || checksum_of(h, *payload) != h.checksum)
            break;
        out.emplace_back(*payload);
        at += entry_size(h.length);
        ++seq;
    }
    end_ = at;
    next_seq_ = seq;
    return out;
}

struct ManifestLog::Walk::State {
    struct Found {
        std::size_t offset, length;
        std::string head;
    };
    State(ManifestLog& l, std::size_t h)
        : log(l), head(h), reader(l.capacity(), [&l](std::size_t o, char* d, std::size_t n) { return l.read_at(o, d, n); })
    {
    }
    ManifestLog& log;
    std::size_t head;
    ChunkedReader reader;
    std::optional<Found> previous;  // visited once the next header shows it was not the last
    std::size_t at = 0;
    std::uint64_t seq = 1;
    std::size_t visited = 0;
    bool done = false;
};

ManifestLog::Walk::Walk(ManifestLog& log, std::size_t head)
{
    log.drop_resized_segments();
    state_ = std::make_unique<State>(log, head);
}

ManifestLog::Walk::~Walk() = default;
ManifestLog::Walk::Walk(Walk&&) noexcept = default;
ManifestLog::Walk& ManifestLog::Walk::operator=(Walk&&) noexcept = default;

bool ManifestLog::Walk::done() const { return state_->done; }

std::size_t ManifestLog::Walk::visited() const { return state_->visited; }

bool ManifestLog::Walk::step(std::size_t most, const Visit& visit)
{
    State& w = *state_;
    auto visit_previous = [&] {
        ++w.visited;
        visit(w.previous->offset, w.previous->length, w.previous->head);
    };
    for (std::size_t visited = 0; !w.done && visited < most;) {
        std::optional<EntryHeader> next = header_at(w.reader, w.at, w.log.epoch_, w.seq, w.log.capacity());
        std::optional<std::string_view> first;
        if (next)
            first = w.reader.view(w.at + sizeof *next, std::min<std::size_t>(next->length, w.head));
        if (!first) {
            // The end: the last entry is visited only when whole (a torn append can only be the last).
            if (w.previous && !w.log.read_entry(w.previous->offset)) {
                w.at = w.previous->offset;
                --w.seq;
                w.previous.reset();
            }
            if (w.previous)
                visit_previous();
            w.previous.reset();
            w.log.end_ = w.at;
            w.log.next_seq_ = w.seq;
            w.done = true;
            break;
        }
        if (w.previous) {
            visit_previous();
            ++visited;
        }
        w.previous = State::Found{w.at, next->length, std::string(*first)};
        w.at += entry_size(next->length);
        ++w.seq;
    }
    return w.done;
}

void ManifestLog::walk(std::size_t head, const Visit& visit)
{
    Walk whole(*this, head);
    while (!whole.step(std::numeric_limits<std::size_t>::max(), visit)) {
    }
}

std::optional<std::string> ManifestLog::read_entry(std::size_t offset)
{
    EntryHeader h{};
    if (!read_at(offset, reinterpret_cast<char*>(&h), sizeof h) || !heads_entry(h, epoch_, offset, capacity()))
        return std::nullopt;
    std::string payload(h.length, '\0');
    if (!read_at(offset + sizeof h, payload.data(), payload.size()) || checksum_of(h, payload) != h.checksum)
        return std::nullopt;
    return payload;
}

std::optional<std::vector<std::string>> ManifestLog::read_entries(const std::vector<Extent>& extents)
{
    std::vector<std::string> out;
    out.reserve(extents.size());
    std::string run;
    for (std::size_t i = 0; i < extents.size();) {
        if (extents[i].length > capacity())
            return std::nullopt;
        // A run: each next entry starts at most kRunGap bytes after the end of the one before.
        std::size_t begin = extents[i].offset, end = begin + entry_size(extents[i].length), next = i + 1;
        for (; next < extents.size() && extents[next].length <= capacity() && extents[next].offset >= end &&
             extents[next].offset - end <= kRunGap;
             ++next)
            end = extents[next].offset + entry_size(extents[next].length);
        run.resize(end - begin);
        if (!read_at(begin, run.data(), run.size()))
            return std::nullopt;
        for (; i < next; ++i) {
            std::string_view entry =
                std::string_view(run).substr(extents[i].offset - begin, entry_size(extents[i].length));
            EntryHeader h{};
            std::memcpy(&h, entry.data(), sizeof h);
            std::string_view payload = entry.substr(sizeof h);
            if (!heads_entry(h, epoch_, extents[i].offset, capacity()) || h.length != extents[i].length ||
                checksum_of(h, payload) != h.checksum)
                return std::nullopt;
            out.emplace_back(payload);
        }
    }
    return out;
}

std::optional<std::string> ManifestLog::read_last(std::size_t offset, std::uint64_t seq)
{
    drop_resized_segments();
    auto header = [this](std::size_t at, std::uint64_t want) -> std::optional<EntryHeader> {
        EntryHeader h{};
        if (!read_at(at, reinterpret_cast<char*>(&h), sizeof h) || !heads_entry(h, epoch_, at, capacity(), want))
            return std::nullopt;
        return h;
    };
    std::optional<EntryHeader> h = header(offset, seq);
    if (!h)
        return std::nullopt;
    std::optional<std::string> payload = read_entry(offset);
    if (!payload)
        return std::nullopt;
    std::size_t next = offset + entry_size(h->length);
    // A whole entry after it: the log goes on (a torn one can only be a last append that failed).
    if (header(next, seq + 1) && read_entry(next))
        return std::nullopt;
    end_ = next;
    next_seq_ = seq + 1;
    return payload;
}

void ManifestLog::restart(std::uint64_t epoch)
{
    epoch_ = epoch;
    end_ = 0;
    next_seq_ = 1;
}

}  // namespace luod
