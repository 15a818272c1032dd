// SPDX-License-Identifier: Apache-2.0
// The manifest's log: a chain of memfd segments of one size, seen as one byte space, that
// entries are appended to. A preserved memfd cannot grow, so the chain grows by segments
// (each preserved at its own token of luod's session); an entry may span two segments.
//
// An entry is a 40-byte header (magic, the chain's epoch, a sequence number counting from 1,
// the payload's length, a checksum over all of these and the payload) and its payload. An
// append is one write at the end: a process killed in the middle leaves an entry whose
// checksum fails, and a reader stops there, at the last whole entry. Entries of another
// epoch (left from an earlier use of the segments) or out of sequence end the log too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "luo/unique_fd.h"

namespace luod {

class ManifestLog {
public:
    static constexpr std::size_t kEntryHeader = 40;
    using Fetch = std::function<luo::UniqueFd(std::uint64_t token)>;

    struct Segment {
        std::uint64_t token = 0;  // its token in luod's session
        luo::UniqueFd fd;         // none until fetched, for a segment added later
        Fetch fetch;              // for a segment added later
    };

    ManifestLog(std::uint64_t epoch, std::size_t segment_size) : epoch_(epoch), segment_size_(segment_size) {}

    // A memfd for a new segment, at its full size and sealed against resizing (as the
    // kernel fixes it while preserved). Throws luo::Error.
    static luo::UniqueFd make_segment(std::size_t size);

    // Appends a segment to the chain (made by make_segment, or adopted: it must have the
    // chain's segment size, or the log ends before it).
    void add_segment(std::uint64_t token, luo::UniqueFd fd);
    // Appends a segment whose fd `fetch` gives when the log first reads from it (or when a
    // Walk reaches it). After a kexec the old log's segments are each a RETRIEVE_FD of luod's
    // session from before (the kernel restores every page of it): a start that reads only the
    // last entry retrieves only the segments that entry is in, and the walk the rest, once luod
    // is ready. `fetch` throws (luo::Error) or returns no fd when it cannot: a read of that
    // segment throws. One of another size than the chain's ends the log before it.
    void add_segment_later(std::uint64_t token, Fetch fetch);
    // How many segments have their fd (all but those added later and not read yet).
    [[nodiscard]] std::size_t segments_fetched() const;

    [[nodiscard]] std::uint64_t epoch() const { return epoch_; }
    [[nodiscard]] std::size_t segment_size() const { return segment_size_; }
    [[nodiscard]] const std::vector<Segment>& segments() const { return segments_; }
    [[nodiscard]] std::vector<std::uint64_t> tokens() const;
    [[nodiscard]] std::size_t capacity() const { return segments_.size() * segment_size_; }
    [[nodiscard]] std::size_t end() const { return end_; }
    [[nodiscard]] std::size_t room() const { return capacity() - end_; }
    [[nodiscard]] std::uint64_t entries() const { return next_seq_ - 1; }
    // Bytes an entry with a payload of `payload` bytes takes.
    [[nodiscard]] static std::size_t entry_size(std::size_t payload) { return kEntryHeader + payload; }

    // Appends one entry. Throws luo::Error: EFBIG when it does not fit (nothing written).
    void append(std::string_view payload);
    // The entries from the start of the chain, up to the first one that is not whole, of
    // another epoch or out of sequence; appends continue after the last one returned.
    // Throws luo::Error on I/O errors.
    std::vector<std::string> read();
    // The same walk without reading or checking the payloads: `visit` gets each entry's
    // offset, payload length and the first `head` bytes of its payload (fewer when the payload
    // is shorter). Only the last entry's checksum is checked (a torn append can only be the
    // last; it is not visited): read_entry() checks each of the others when it is read. For a
    // reader that needs only some entries now (a restore after a kexec). Throws luo::Error.
    using Visit = std::function<void(std::size_t offset, std::size_t length, std::string_view head)>;
    void walk(std::size_t head, const Visit& visit);
    // The same walk a few entries at a time, so that a caller on an event loop can answer
    // others between steps: each step() visits at most `most` entries and says whether the
    // walk reached the log's end (then end() and appends are as after walk()). The log must
    // not change, move or go while a Walk of it lives. Throws luo::Error.
    class Walk {
    public:
        Walk(ManifestLog& log, std::size_t head);
        ~Walk();
        Walk(Walk&&) noexcept;
        Walk& operator=(Walk&&) noexcept;
        bool step(std::size_t most, const Visit& visit);
        [[nodiscard]] bool done() const;
        [[nodiscard]] std::size_t visited() const;

    private:
        struct State;
        std::unique_ptr<State> state_;
    };
    // The payload of entry `seq` at `offset` when it is whole and the log's last entry (what
    // follows is not entry seq + 1, or is a torn append); nullopt otherwise. Reads two
    // entries, not the log: for the last record written before a kexec. Throws luo::Error.
    std::optional<std::string> read_last(std::size_t offset, std::uint64_t seq);
    // The payload of the entry at `offset`, if it is whole (magic, epoch, checksum).
    std::optional<std::string> read_entry(std::size_t offset);
    // An entry as a walk found it: where it is and its payload's length.
    struct Extent {
        std::size_t offset = 0, length = 0;
    };
    // The payloads of the entries at `extents` (one session's, in the order of the log), each
    // checked as read_entry() checks it and against its length; nullopt when one is not whole.
    // Entries that follow one another within kRunGap bytes are read in one read: a session's
    // entries usually lie together, and after a kexec a restore read each of them with two
    // reads (header, then payload), a system call each. Throws luo::Error on I/O errors.
    static constexpr std::size_t kRunGap = 4096;
    std::optional<std::vector<std::string>> read_entries(const std::vector<Extent>& extents);
    // Starts the log again, empty, with a new epoch (the segments are kept and reused).
    void restart(std::uint64_t epoch);

private:
    // Segments of another size than the chain's end the log before them: they are dropped
    // (those added later, when they are fetched).
    void drop_resized_segments();
    void write_at(std::size_t offset, const char* data, std::size_t size);
    [[nodiscard]] bool read_at(std::size_t offset, char* data, std::size_t size);
    // Segment `index`, fetched if it was added later; nullptr when it ends the log (resized:
    // the log is cut before it). Throws luo::Error when it cannot be fetched.
    Segment* readable(std::size_t index);

    std::uint64_t epoch_;
    std::size_t segment_size_;
    std::vector<Segment> segments_;
    std::size_t end_ = 0;
    std::uint64_t next_seq_ = 1;
};

}  // namespace luod
