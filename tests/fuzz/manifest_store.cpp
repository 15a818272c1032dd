// SPDX-License-Identifier: Apache-2.0
// Fuzz target: luod's manifest memfd (daemon/luod/manifest_store.h), adopted from the fd
// store or retrieved after a kexec. The input is the memfd's whole contents.
//
//  1. adopt() + read() on the input as it is; what read() returns is decoded.
//  2. A random input almost never carries a valid checksum, so when the header is sane but
//     the checksum is wrong, the checksum is corrected (FNV-1a, restated here as the
//     oracle) and read() must then return exactly the slot's bytes, which are decoded.
//  3. write() then read(): a manifest that fits is read back unchanged, into the other
//     slot, with the next generation; one that does not fit fails with EFBIG.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "fuzz_util.h"
#include "luo/error.h"
#include "manifest_check.h"
#include "manifest_store.h"

namespace {

using luo::UniqueFd;

constexpr std::size_t kHeaderSize = 4096;

struct Header {
    char magic[8];
    std::uint64_t generation;
    std::uint64_t slot;
    std::uint64_t length;
    std::uint64_t checksum;
};
constexpr char kMagic[8] = {'L', 'U', 'O', 'D', 'M', 'A', 'N', '1'};

std::uint64_t fnv1a(std::string_view data)
{
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : data)
        h = (h ^ c) * 0x100000001b3ull;
    return h;
}

UniqueFd memfd_with(std::string_view contents)
{
    UniqueFd fd(::memfd_create("fuzz-manifest", MFD_CLOEXEC));
    FUZZ_CHECK(fd);
    for (std::size_t done = 0; done < contents.size();) {
        ssize_t n = ::pwrite(fd.get(), contents.data() + done, contents.size() - done, static_cast<off_t>(done));
        FUZZ_CHECK(n > 0);
        done += static_cast<std::size_t>(n);
    }
    return fd;
}

std::optional<Header> header_of(int fd)
{
    Header h{};
    if (::pread(fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h))
        return std::nullopt;
    return h;
}

void decode_and_check(const std::string& text)
{
    luod::Manifest m;
    if (luo::fuzz::decode(text, m))
        luo::fuzz::check_decoded(m);
}

// Step 3: a write goes to the other slot and reads back.
void write_and_read_back(luod::ManifestStore& store, const std::string& manifest)
{
    auto before = header_of(store.fd());
    bool valid_before = before && std::memcmp(before->magic, kMagic, sizeof kMagic) == 0;
    if (!store.fits(manifest.size())) {
        try {
            store.write(manifest);
        } catch (const luo::Error& e) {
            FUZZ_CHECK(e.errno_value() == EFBIG);
            return;
        }
        FUZZ_CHECK_MSG(false, "an oversized manifest was written");
    }
    store.write(manifest);
    auto got = store.read();
    FUZZ_CHECK_MSG(got && *got == manifest, "a written manifest does not read back");
    auto after = header_of(store.fd());
    FUZZ_CHECK(after && std::memcmp(after->magic, kMagic, sizeof kMagic) == 0);
    FUZZ_CHECK(after->slot == (valid_before && before->slot == 0 ? 1u : 0u));
    FUZZ_CHECK(after->generation == (valid_before ? before->generation : 0) + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view input(reinterpret_cast<const char*>(data), size);
    int fd_baseline = luo::fuzz::lowest_free_fd();
    {
        // 1. As found.
        luod::ManifestStore store = luod::ManifestStore::adopt(memfd_with(input));
        std::size_t slot = store.slot_capacity();
        FUZZ_CHECK(slot == (size > kHeaderSize ? (size - kHeaderSize) / 2 : 0));
        std::optional<std::string> text = store.read();
        if (text) {
            FUZZ_CHECK(text->size() <= slot);
            decode_and_check(*text);
        }

        // 2. With the checksum made right, when the rest of the header is sane.
        auto h = header_of(store.fd());
        if (!text && slot > 0 && h && std::memcmp(h->magic, kMagic, sizeof kMagic) == 0 && h->slot <= 1 &&
            h->length <= slot) {
            std::string body(input.substr(kHeaderSize + h->slot * slot, h->length));
            h->checksum = fnv1a(body);
            FUZZ_CHECK(::pwrite(store.fd(), &*h, sizeof *h, 0) == static_cast<ssize_t>(sizeof *h));
            auto fixed = store.read();
            FUZZ_CHECK_MSG(fixed && *fixed == body, "a sane header with the right checksum is not read");
            decode_and_check(*fixed);
        }

        // 3. A write and a read on the adopted store.
        luod::Manifest m;
        m.generation = size;
        m.boot_id = "fuzz";
        write_and_read_back(store, luod::encode_manifest(m));
    }
    FUZZ_CHECK_MSG(luo::fuzz::lowest_free_fd() == fd_baseline, "file descriptor leak");
    return 0;
}
