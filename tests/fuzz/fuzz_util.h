// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the fuzz targets and the seed generator: a front-to-back byte reader
// (so hand-written and generated seeds read naturally, unlike FuzzedDataProvider, which
// takes integers from the end), its writer counterpart, a fatal check and fd helpers.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "luo/unique_fd.h"

namespace luo::fuzz {

// A property the target asserts failed: report and abort, which libFuzzer records as a
// crash and saves the input for.
[[noreturn]] inline void check_failed(const char* expr, const char* file, int line, const std::string& detail)
{
    std::fprintf(stderr, "FUZZ CHECK FAILED: %s at %s:%d%s%s\n", expr, file, line, detail.empty() ? "" : ": ",
                 detail.c_str());
    std::abort();
}

#define FUZZ_CHECK(cond) \
    do { \
        if (!(cond)) \
            ::luo::fuzz::check_failed(#cond, __FILE__, __LINE__, {}); \
    } while (0)
#define FUZZ_CHECK_MSG(cond, detail) \
    do { \
        if (!(cond)) \
            ::luo::fuzz::check_failed(#cond, __FILE__, __LINE__, (detail)); \
    } while (0)

// Reads the fuzz input from the front. Past the end every read yields zeros/empty, so a
// short input is still a complete (if dull) program.
class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> data) : data_(data) {}

    [[nodiscard]] bool empty() const { return pos_ >= data_.size(); }
    [[nodiscard]] std::size_t remaining() const { return empty() ? 0 : data_.size() - pos_; }

    std::uint8_t u8()
    {
        return empty() ? 0 : data_[pos_++];
    }
    std::uint16_t u16() { return static_cast<std::uint16_t>(little(2)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(little(4)); }
    std::uint64_t u64() { return little(8); }

    // Up to `n` bytes (fewer at the end of the input).
    std::span<const std::uint8_t> bytes(std::size_t n)
    {
        n = std::min(n, remaining());
        auto out = data_.subspan(pos_, n);
        pos_ += n;
        return out;
    }
    std::string string(std::size_t n)
    {
        auto b = bytes(n);
        return {reinterpret_cast<const char*>(b.data()), b.size()};
    }

private:
    std::uint64_t little(unsigned n)
    {
        std::uint64_t v = 0;
        for (unsigned i = 0; i < n; ++i)
            v |= static_cast<std::uint64_t>(u8()) << (8 * i);
        return v;
    }

    std::span<const std::uint8_t> data_;
    std::size_t pos_ = 0;
};

// The seed generator's side of Reader.
class Writer {
public:
    Writer& u8(std::uint8_t v)
    {
        out_.push_back(v);
        return *this;
    }
    Writer& u16(std::uint16_t v) { return little(v, 2); }
    Writer& u32(std::uint32_t v) { return little(v, 4); }
    Writer& u64(std::uint64_t v) { return little(v, 8); }
    Writer& bytes(std::span<const std::byte> b)
    {
        for (std::byte x : b)
            out_.push_back(static_cast<std::uint8_t>(x));
        return *this;
    }
    Writer& string(std::string_view s)
    {
        out_.insert(out_.end(), s.begin(), s.end());
        return *this;
    }
    [[nodiscard]] const std::vector<std::uint8_t>& data() const { return out_; }

private:
    Writer& little(std::uint64_t v, unsigned n)
    {
        for (unsigned i = 0; i < n; ++i)
            out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
        return *this;
    }

    std::vector<std::uint8_t> out_;
};

// The lowest free descriptor number: equal before and after an iteration unless the code
// under test leaked an fd (LeakSanitizer sees memory only).
inline int lowest_free_fd()
{
    int fd = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0)
        ::close(fd);
    return fd;
}

// A memfd of `size` bytes (sparse: nothing is written), or an invalid fd.
inline UniqueFd make_memfd(const char* name, std::uint64_t size, unsigned flags = MFD_CLOEXEC)
{
    UniqueFd fd(::memfd_create(name, flags));
    if (fd && ::ftruncate(fd.get(), static_cast<off_t>(size)) < 0)
        fd.reset();
    return fd;
}

}  // namespace luo::fuzz
