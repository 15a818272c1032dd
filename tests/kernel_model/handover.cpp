// SPDX-License-Identifier: Apache-2.0
// The handover between model kernels: the 7.2 block layout, what the parser refuses, and
// what a model booted with corrupt or incompatible data does (every open fails with EIO,
// the model keeps running).
#include <signal.h>

#include "luo_catch.h"
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "handover.h"
#include "harness.h"
#include "luo/device.h"
#include "luo/error.h"
#include "luo/model_control.h"
#include "profile.h"

using namespace luo;
using namespace luo::test;
using namespace luo::kmodel;

namespace {

std::optional<std::size_t> known_handlers(std::string_view compatible)
{
    if (compatible == "memfd-v2")
        return 48;
    if (compatible == "test-v1")
        return 8;
    return std::nullopt;
}

Handover sample(std::size_t sessions, std::size_t files_each)
{
    Handover h;
    h.liveupdate_num = 3;
    for (std::size_t i = 0; i < sessions; ++i) {
        HandoverSession s{"session-" + std::to_string(i), {}};
        for (std::size_t j = 0; j < files_each; ++j)
            s.files.push_back({"test-v1", j * 10, std::vector<std::byte>(8, std::byte(j))});
        h.sessions.push_back(std::move(s));
    }
    return h;
}

std::uint64_t u64_at(const std::vector<std::byte>& blob, std::size_t at)
{
    std::uint64_t v;
    std::memcpy(&v, blob.data() + at, sizeof v);
    return v;
}

void put_u64(std::vector<std::byte>& blob, std::size_t at, std::uint64_t v) { std::memcpy(blob.data() + at, &v, sizeof v); }

int parse(const std::vector<std::byte>& blob, Handover& out, std::string_view compatible = kLuoCompatibleV5)
{
    return deserialize_handover(blob, compatible, kDefaultMaxBlocks, known_handlers, out);
}

void write_blob(const std::filesystem::path& p, const std::vector<std::byte>& blob)
{
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(blob.data()), static_cast<std::streamsize>(blob.size()));
}

}  // namespace

TEST_CASE("handover round trip keeps sessions, files, tokens and order across many blocks", "[handover]")
{
    Handover in = sample(120, 70);  // 3 session blocks; each session 2 file blocks
    auto blob = serialize_handover(in, kLuoCompatibleV5);
    Handover out;
    REQUIRE(parse(blob, out) == 0);
    CHECK(out.liveupdate_num == 3);
    REQUIRE(out.sessions.size() == 120);
    CHECK(out.sessions[119].name == "session-119");
    REQUIRE(out.sessions[5].files.size() == 70);
    CHECK(out.sessions[5].files[69].token == 690);
    CHECK(out.sessions[5].files[69].data == std::vector<std::byte>(8, std::byte(69)));
    // The layout: "luo-v5" header with the first session block's offset, one-page blocks.
    CHECK(std::memcmp(blob.data(), "luo-v5", 7) == 0);
    std::uint64_t first = u64_at(blob, 16);
    CHECK(first % 4096 == 0);
    CHECK(u64_at(blob, first + 8) == 51);  // a full block: (4096 - 16) / 80 sessions
}

TEST_CASE("an empty handover has no session block", "[handover]")
{
    auto blob = serialize_handover(Handover{}, kLuoCompatibleV5);
    CHECK(u64_at(blob, 16) == 0);
    Handover out;
    CHECK(parse(blob, out) == 0);
    CHECK(out.sessions.empty());
}

TEST_CASE("the handover parser refuses malformed data with EINVAL or ENOENT", "[handover]")
{
    const auto good = serialize_handover(sample(60, 3), kLuoCompatibleV5);
    const std::uint64_t first = u64_at(good, 16);
    Handover out;

    SECTION("truncated") { CHECK(parse({good.begin(), good.begin() + 20}, out) == -EINVAL); }
    SECTION("another ABI's compatible string") { CHECK(parse(good, out, kLuoCompatibleV1) == -EINVAL); }
    SECTION("session block outside the blob")
    {
        auto bad = good;
        put_u64(bad, 16, bad.size() + 4096);
        CHECK(parse(bad, out) == -EINVAL);
    }
    SECTION("a block count of zero")
    {
        auto bad = good;
        put_u64(bad, first + 8, 0);
        CHECK(parse(bad, out) == -EINVAL);
    }
    SECTION("a block count above its capacity")
    {
        auto bad = good;
        put_u64(bad, first + 8, 52);
        CHECK(parse(bad, out) == -EINVAL);
    }
    SECTION("a cycle in the block chain")
    {
        auto bad = good;
        std::uint64_t second = u64_at(bad, first);
        REQUIRE(second != 0);
        put_u64(bad, second, first);
        CHECK(parse(bad, out) == -EINVAL);
    }
    SECTION("a file count that disagrees with the file blocks")
    {
        auto bad = good;
        put_u64(bad, first + 16 + 72, 4);  // first session's files_count
        CHECK(parse(bad, out) == -EINVAL);
    }
    SECTION("a session name without its NUL")
    {
        auto bad = good;
        std::memset(bad.data() + first + 16, 'N', 64);
        CHECK(parse(bad, out) == -EINVAL);
    }
    SECTION("a file of a handler the kernel does not have")
    {
        Handover h = sample(1, 1);
        h.sessions[0].files[0].compatible = "memfd-v1";
        CHECK(parse(serialize_handover(h, kLuoCompatibleV5), out) == -ENOENT);
    }
    SECTION("two sessions sharing one file block")
    {
        // Found by fuzzing: chains sharing blocks multiplied a restore's work and memory.
        auto bad = good;
        std::uint64_t second_session = first + 16 + 80;
        put_u64(bad, second_session + 64, u64_at(bad, first + 16 + 64));
        CHECK(parse(bad, out) == -EINVAL);
    }
    SECTION("more blocks than the limit")
    {
        CHECK(deserialize_handover(good, kLuoCompatibleV5, 1, known_handlers, out) == -EINVAL);
    }
    CHECK(out.sessions.empty());  // nothing is returned on failure
}

TEST_CASE("a model booted with corrupt handover data refuses every open with EIO and keeps running", "[handover]")
{
    TempDir scratch;
    auto blob = serialize_handover(sample(3, 0), kLuoCompatibleV5);
    SECTION("random bytes")
    {
        for (auto& b : blob)
            b = std::byte(0xA5);
    }
    SECTION("a broken block chain") { put_u64(blob, u64_at(blob, 16) + 8, 9999); }
    SECTION("a memfd whose memory did not come across")
    {
        Handover h = sample(1, 0);
        h.sessions[0].files.push_back({"memfd-v2", 1, std::vector<std::byte>(48)});
        blob = serialize_handover(h, kLuoCompatibleV5);
    }
    write_blob(scratch.path() / "blob", blob);
    ModelProcess model({"7.2", "kho=on liveupdate=on", {"--handover-file", (scratch.path() / "blob").native()}});
    CHECK(errno_of([&] { Device::open(model.root()); }) == EIO);
    CHECK(errno_of([&] { Device::open(model.root()); }) == EIO);
    CHECK(model.alive());
    CHECK(model.log().find("every open of /dev/liveupdate will fail with EIO") != std::string::npos);
    // The next kernel starts clean.
    model.load_kernel("7.2");
    REQUIRE(model.kexec_reboot() == 0);
    CHECK(errno_of([&] { Device::open(model.root()); }) == 0);
}

TEST_CASE("a valid handover file restores its sessions", "[handover]")
{
    TempDir scratch;
    write_blob(scratch.path() / "blob", serialize_handover(sample(2, 0), kLuoCompatibleV5));
    ModelProcess model({"7.2", "kho=on liveupdate=on", {"--handover-file", (scratch.path() / "blob").native()}});
    Device dev = Device::open(model.root());
    // Exactly the file's sessions: both of them, and no other name.
    CHECK_NOTHROW(dev.retrieve_session("session-0"));
    CHECK_NOTHROW(dev.retrieve_session("session-1"));
    CHECK(errno_of([&] { dev.retrieve_session("session-2"); }) == ENOENT);
    CHECK(nlohmann::json::parse(model::status_json(model.root()))["liveupdate_num"] == 3);
}

TEST_CASE("kexec between kernels of different LUO ABIs: the next kernel refuses the handover with EIO",
          "[handover][kexec]")
{
    auto from = GENERATE(as<std::string>{}, "6.19", "7.1", "7.2");
    auto to = GENERATE(as<std::string>{}, "6.19", "7.1", "7.2");
    // luo-v1 (FDT era) to luo-v5 and back cannot hand over; memfd-v1 data has no handler in
    // a memfd-v2 kernel and the reverse.
    bool compatible = from == to;
    INFO("from " << from << " to " << to);
    ModelProcess model{ModelOptions(from)};
    ReadySignal ready;
    pid_t holder = spawn([&]() -> int {
        Device dev = Device::open(model.root());
        Session s = dev.create_session("vm");
        UniqueFd memfd = make_memfd("ram", "ram");
        s.preserve_fd(memfd.get(), 1);
        ready.notify();
        sleep_forever();
    });
    REQUIRE(ready.wait());
    model.load_kernel(to);
    REQUIRE(model.kexec_reboot() == 0);
    CHECK(wait_exit(holder) == 128 + SIGKILL);
    if (compatible) {
        Device dev = Device::open(model.root());
        Session s = dev.retrieve_session("vm");
        CHECK(read_all(s.retrieve_fd(1).get()) == "ram");
    } else {
        CHECK(errno_of([&] { Device::open(model.root()); }) == EIO);
    }
}
