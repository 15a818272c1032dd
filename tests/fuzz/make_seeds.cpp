// SPDX-License-Identifier: Apache-2.0
// Writes the seed corpora under tests/fuzz/corpus/ from the real encoders (serialize_handover,
// encode_manifest, ManifestStore) and the ioctl program format, so the seeds stay valid when
// a format changes: run it, review the diff, commit.
//
//   cmake --build build-fuzz --target make_seeds
//   build-fuzz/make_seeds tests/fuzz/corpus daemon/luod.conf
//
// Seeds are small and meaningful: valid inputs that reach the success paths, and near-valid
// ones that stop at one specific check.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "handover.h"
#include "luo/model_wire.h"
#include "luo/uapi.h"
#include "manifest.h"
#include "manifest_store.h"
#include "model_program.h"

namespace {

namespace fs = std::filesystem;
using luo::fuzz::Writer;
using namespace luo::fuzz::program;
namespace uapi = luo::uapi;

// One target's seed directory.
struct Corpus {
    fs::path dir;

    void save(const std::string& name, const void* data, std::size_t size) const
    {
        fs::create_directories(dir);
        std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
        f.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
        if (!f)
            throw std::runtime_error("cannot write " + (dir / name).native());
    }
    void save(const std::string& name, std::string_view text) const { save(name, text.data(), text.size()); }
    void save(const std::string& name, const std::vector<std::byte>& bytes) const
    {
        save(name, bytes.data(), bytes.size());
    }
    void save(const std::string& name, const Writer& w) const { save(name, w.data().data(), w.data().size()); }
};

// --- model_ioctl programs -----------------------------------------------------------------

struct Program {
    Writer w;
    explicit Program(std::uint8_t config) { w.u8(config); }
    Program& create(std::string_view name)
    {
        w.u8(kOpCreate).u8(static_cast<std::uint8_t>(name.size())).string(name);
        return *this;
    }
    Program& memfd(std::uint16_t size16, std::uint8_t seals = 0)
    {
        w.u8(kOpMemfd).u16(size16).u8(seals);
        return *this;
    }
    Program& preserve(std::uint8_t sess, std::uint8_t token, std::uint8_t payload)
    {
        w.u8(kOpPreserve).u8(sess).u8(token).u8(payload);
        return *this;
    }
    Program& retrieve_session(std::uint8_t known_name) { w.u8(kOpRetrieveSession).u8(known_name); return *this; }
    Program& retrieve_fd(std::uint8_t sess, std::uint8_t token)
    {
        w.u8(kOpRetrieveFd).u8(sess).u8(token);
        return *this;
    }
    Program& finish(std::uint8_t sess) { w.u8(kOpFinish).u8(sess); return *this; }
    Program& get_name(std::uint8_t sess, bool reserved = false)
    {
        w.u8(kOpGetName).u8(sess).u8(reserved ? 1 : 0);
        return *this;
    }
    Program& close(std::uint8_t sess) { w.u8(kOpClose).u8(sess); return *this; }
    Program& reboot() { w.u8(kOpReboot); return *this; }
    Program& endpoint_fail() { w.u8(kOpEndpointFail).u8(0); return *this; }
    Program& drop(std::uint8_t sel) { w.u8(kOpDropFd).u8(sel); return *this; }
    template <typename T>
    Program& raw(std::uint8_t op, int sess, std::uint8_t req, std::uint16_t flags, const T& arg, std::size_t len,
                 std::uint8_t payload = kPayNone)
    {
        w.u8(op);
        if (sess >= 0)
            w.u8(static_cast<std::uint8_t>(sess));
        w.u8(req).u16(flags).u16(static_cast<std::uint16_t>(len));
        auto bytes = std::as_bytes(std::span(&arg, 1));
        w.bytes(bytes.first(std::min(len, bytes.size())));
        for (std::size_t i = bytes.size(); i < len; ++i)
            w.u8(i == len - 1 ? 1 : 0);  // a non-zero last byte past the struct: E2BIG
        w.u8(payload);
        return *this;
    }
};

void model_request_seeds(const fs::path& out)
{
    const Corpus c{out / "model_request"};
    // [fd count][truncated][RequestHeader + argument], as the model's sockets receive them.
    auto datagram = [](std::uint8_t fds, std::uint64_t request, std::uint32_t arg_len, std::uint32_t payload_fds,
                       std::uint16_t flags = 0) {
        Writer w;
        w.u8(fds).u8(0);
        w.u32(luo::model_wire::kMagic).u16(luo::model_wire::kVersion).u16(flags).u64(request).u32(arg_len).u32(payload_fds);
        for (std::uint32_t i = 0; i < arg_len; ++i)
            w.u8(static_cast<std::uint8_t>(i == 0 ? arg_len : 0));
        return w.data();
    };
    auto save = [&](const std::string& name, const std::vector<std::uint8_t>& bytes) {
        c.save(name, bytes.data(), bytes.size());
    };
    namespace uapi = luo::uapi;
    save("create-session", datagram(1, uapi::kIoctlCreateSession, 72, 0));
    save("preserve-fd", datagram(2, uapi::kSessionPreserveFd, 16, 1));
    save("no-argument", datagram(1, uapi::kSessionFinish, 0, 0));
    save("largest-argument", datagram(1, uapi::kIoctlCreateSession, 4096, 0));
    save("fd-count-mismatch", datagram(3, uapi::kSessionPreserveFd, 16, 1));
    save("no-reply-socket", datagram(0, uapi::kIoctlCreateSession, 72, 0));
    auto truncated = datagram(1, uapi::kIoctlCreateSession, 72, 0);
    truncated[1] = 1;
    save("truncated", truncated);
}

void model_ioctl_seeds(const fs::path& out)
{
    const Corpus c{out / "model_ioctl"};
    // A memfd preserved, carried across a reboot and taken back.
    c.save("memfd-roundtrip", Program(0)
                                   .create("vm-1")
                                   .memfd(0x100, 0x06)
                                   .preserve(0, 1, pay(kPayHeld, 0))
                                   .get_name(0)
                                   .reboot()
                                   .retrieve_session(0)
                                   .retrieve_fd(0, 1)
                                   .retrieve_fd(0, 1)
                                   .finish(0)
                                   .retrieve_fd(0, 1)
                                   .close(0)
                                   .w);
    // A vfio device (the group node is refused), across a reboot; FINISH waits for it.
    c.save("vfio-roundtrip", Program(0)
                                  .create("vmm")
                                  .preserve(0, 7, pay(kPayVfioReady))
                                  .preserve(0, 8, pay(kPayVfioGroup))
                                  .preserve(0, 9, pay(kPayPlainFile))
                                  .reboot()
                                  .retrieve_session(0)
                                  .finish(0)
                                  .retrieve_fd(0, 7)
                                  .finish(0)
                                  .close(0)
                                  .w);
    // Files that cannot be frozen abort the reboot; the sessions stay usable.
    c.save("freeze-abort", Program(0)
                                .create("a")
                                .preserve(0, 1, pay(kPayVfioIrqs))
                                .reboot()
                                .get_name(0)
                                .close(0)
                                .create("b")
                                .preserve(0, 1, pay(kPayVfioD3))
                                .reboot()
                                .w);
    // Raw requests through every generic check of kernel-abi.md §1.3.
    uapi::liveupdate_ioctl_create_session cs{};
    cs.size = sizeof cs;
    std::memcpy(cs.name, "raw", 3);
    uapi::liveupdate_ioctl_create_session small = cs;
    small.size = 71;
    uapi::liveupdate_ioctl_create_session big = cs;
    big.size = 80;
    uapi::liveupdate_session_preserve_fd pf{sizeof pf, 3, 42};
    uapi::liveupdate_session_preserve_fd pf2{sizeof pf2, 3, 43};
    uapi::liveupdate_session_preserve_fd pf3{sizeof pf3, 3, 44};
    uapi::liveupdate_session_get_name gn{sizeof gn, 1, {}};
    uapi::liveupdate_session_finish fin{sizeof fin, 7};
    namespace wire = luo::model_wire;
    c.save("raw-abi", Program(0)
                           .raw(kOpDeviceRaw, -1, 0x00, 0, cs, sizeof cs)
                           .raw(kOpDeviceRaw, -1, 0x00, 0, small, sizeof small)
                           .raw(kOpDeviceRaw, -1, 0x00, 0, big, 80)
                           .raw(kOpDeviceRaw, -1, 0x00, wire::kFlagSizeFault, cs, sizeof cs)
                           .raw(kOpDeviceRaw, -1, 0x00, wire::kFlagBodyFault, cs, sizeof cs)
                           .raw(kOpDeviceRaw, -1, kReqWrongEncoding, 0, cs, sizeof cs)
                           .raw(kOpDeviceRaw, -1, 0x02, 0, cs, sizeof cs)
                           .raw(kOpDeviceRaw, -1, 0x40, 0, pf, sizeof pf)
                           .raw(kOpSessionRaw, 0, 0x40, 0, pf, sizeof pf, pay(kPayFreshMemfd))
                           .raw(kOpSessionRaw, 0, 0x40, wire::kFlagFdNotOpen, pf2, sizeof pf2, pay(kPayFreshMemfd))
                           .raw(kOpSessionRaw, 0, 0x40, 0, pf3, sizeof pf3, pay(kPayFreshMemfd) | kPayTwoFds)
                           .raw(kOpSessionRaw, 0, 0x43, 0, gn, sizeof gn)
                           .raw(kOpSessionRaw, 0, 0x42, 0, fin, sizeof fin)
                           .raw(kOpSessionRaw, 0, 0x44, 0, fin, sizeof fin)
                           .raw(kOpSessionRaw, 0, 0x00, 0, cs, sizeof cs)
                           .w);
    // 6.19: empty and unterminated names are accepted, but an empty one does not survive.
    c.save("profile-6.19", Program(2)
                                .create(std::string(64, 'n'))
                                .create("")
                                .memfd(0x10)
                                .preserve(1, 1, pay(kPayHeld))
                                .preserve(0, 1, pay(kPayHeld))
                                .retrieve_fd(0, 1)
                                .reboot()
                                .w);
    // 7.1: double preservation refused, no session-kind checks, retrieved files stay managed.
    c.save("profile-7.1", Program(1)
                               .create("x")
                               .create("y")
                               .memfd(0x20)
                               .preserve(0, 1, pay(kPayHeld))
                               .preserve(1, 2, pay(kPayHeld))
                               .retrieve_fd(0, 1)
                               .finish(0)
                               .reboot()
                               .retrieve_session(0)
                               .retrieve_fd(0, 1)
                               .create("z")
                               .preserve(1, 1, pay(kPayHeld))
                               .finish(0)
                               .preserve(1, 1, pay(kPayHeld))
                               .w);
    // 7.2 with a one-block limit: the 52nd session does not fit (51 per block).
    Program limits(0x04);
    for (int i = 0; i < 52; ++i)
        limits.create("s" + std::to_string(i));
    c.save("block-limit", limits.w);
    // A session endpoint that cannot be made, unknown names, closing without FINISH.
    c.save("endpoint-and-close", Program(0)
                                      .endpoint_fail()
                                      .create("e")
                                      .create("e")
                                      .create("e")
                                      .retrieve_session(0)
                                      .preserve(0, 3, pay(kPayVfioReady))
                                      .memfd(0x40)
                                      .preserve(0, 4, pay(kPayHeld))
                                      .drop(0)
                                      .reboot()
                                      .retrieve_session(0)
                                      .retrieve_session(0)
                                      .retrieve_fd(0, 4)
                                      .close(0)
                                      .retrieve_session(0)
                                      .w);
}

// --- handover ---------------------------------------------------------------------------

std::vector<std::byte> memfd_v2(std::uint64_t pos, std::uint64_t size, std::uint32_t seals, std::uint64_t index)
{
    Writer w;
    w.u64(pos).u64(size).u32(seals).u32(0).u64((size + 4095) / 4096).u64(index).u64(0);
    auto b = std::as_bytes(std::span(w.data()));
    return {b.begin(), b.end()};
}

std::vector<std::byte> memfd_v1(std::uint64_t pos, std::uint64_t size, std::uint64_t index)
{
    Writer w;
    w.u64(pos).u64(size).u64((size + 4095) / 4096).u64(index).u64(0);
    auto b = std::as_bytes(std::span(w.data()));
    return {b.begin(), b.end()};
}

std::vector<std::byte> vfio(std::uint32_t domain, std::uint8_t bus, std::uint8_t dev, std::uint8_t fn)
{
    Writer w;
    w.u32(domain).u16(static_cast<std::uint16_t>(bus << 8 | dev << 3 | fn)).u16(0);
    auto b = std::as_bytes(std::span(w.data()));
    return {b.begin(), b.end()};
}

void handover_seeds(const fs::path& out)
{
    using namespace luo::kmodel;
    const Corpus c{out / "handover"};
    constexpr auto sizes = luo::fuzz::kHandoverMemorySizes;
    Handover full;
    full.liveupdate_num = 2;
    full.sessions.push_back({"vm-1",
                             {{"memfd-v2", 1, memfd_v2(100, sizes[1], 0x0c, 1)},
                              {"vfio-pci-v1", 2, vfio(0, 0, 4, 0)}}});
    full.sessions.push_back({"cache", {{"memfd-v2", 5, memfd_v2(0, sizes[2], 0, 2)}}});
    c.save("v5-memfd-vfio", serialize_handover(full, kLuoCompatibleV5));
    c.save("v5-empty", serialize_handover(Handover{7, {}}, kLuoCompatibleV5));
    c.save("v5-session-without-files", serialize_handover(Handover{1, {{"idle", {}}}}, kLuoCompatibleV5));
    // Devices that are gone or not frozen properly, a memfd whose memory does not match.
    c.save("v5-odd-files",
         serialize_handover(Handover{3,
                                     {{"odd",
                                       {{"vfio-pci-v1", 1, vfio(0, 0, 7, 0)},
                                        {"vfio-pci-v1", 2, vfio(0x10000, 0xff, 31, 7)},
                                        {"memfd-v2", 3, memfd_v2(1u << 30, sizes[3], 0, 3)}}}}},
                            kLuoCompatibleV5));
    c.save("v5-unknown-handler",
         serialize_handover(Handover{1, {{"s", {{"test-v1", 1, std::vector<std::byte>(8)}}}}}, kLuoCompatibleV5));
    // Two session blocks (51 entries per block).
    Handover many;
    many.liveupdate_num = 9;
    for (int i = 0; i < 53; ++i)
        many.sessions.push_back({"session-" + std::to_string(i), {}});
    c.save("v5-two-session-blocks", serialize_handover(many, kLuoCompatibleV5));
    // The FDT-era stamp: 7.1 (memfd-v2) and 6.19 (memfd-v1).
    c.save("v1-memfd-v2",
         serialize_handover(Handover{1, {{"old", {{"memfd-v2", 1, memfd_v2(0, sizes[1], 0, 1)}}}}}, kLuoCompatibleV1));
    c.save("v1-memfd-v1",
         serialize_handover(Handover{1, {{"older", {{"memfd-v1", 1, memfd_v1(0, sizes[0], 0)}}}}}, kLuoCompatibleV1));
    // Near-valid: a file count that disagrees with the chain.
    auto blob = serialize_handover(full, kLuoCompatibleV5);
    std::uint64_t sessions_pa;
    std::memcpy(&sessions_pa, blob.data() + 16, 8);
    std::uint64_t count = 3;
    std::memcpy(blob.data() + sessions_pa + 16 + 72, &count, 8);  // first session's files_count
    c.save("v5-bad-file-count", blob);
}

// --- manifests --------------------------------------------------------------------------

luod::Manifest sample_manifest()
{
    luod::Manifest m;
    m.generation = 42;
    m.written_usec = 1767225600000000;
    m.boot_id = "5f0c2e9a-8d41-4b7e-9a55-0d6f3c1e2b77";
    m.live_update_count = 2;
    luod::ManifestSession vm;
    vm.name = "vm-1";
    vm.kind = "outgoing";
    vm.state = "open";
    vm.owner_uid = 1000;
    vm.owner_unit = "vmm@1.service";
    vm.created_usec = 1767225500000000;
    vm.next_token = 4;
    vm.files = {{"guest-ram", 1, "memfd", false, ""},
                {"nic", 2, "vfio", false, "/dev/vfio/devices/vfio0"},
                {"dirty-log", 3, "memfd", true, ""}};
    luod::ManifestSession cache;
    cache.name = "cache";
    cache.kind = "incoming";
    cache.state = "retrieved";
    cache.owner_unit = "cache.service";
    cache.created_usec = 1767225000000000;
    cache.next_token = 2;
    cache.files = {{"ümlaut label", 1, "file", false, ""}};
    m.sessions = {vm, cache};
    m.update = {{"phase", "prepare"}, {"started_usec", 1767225600000001}};
    m.last_update = {{"result", "ok"}, {"blackout_usec", 183000}, {"phases", {"check", "freeze", "kexec"}}};
    return m;
}

std::string replaced(std::string text, const std::string& from, const std::string& to)
{
    auto at = text.find(from);
    if (at == std::string::npos)
        throw std::runtime_error("seed generator: '" + from + "' not in the manifest");
    return text.replace(at, from.size(), to);
}

void manifest_seeds(const fs::path& out)
{
    const Corpus c{out / "manifest"};
    std::string full = luod::encode_manifest(sample_manifest());
    c.save("full", full);
    luod::Manifest empty;
    c.save("empty", luod::encode_manifest(empty));
    c.save("version-2", replaced(full, "\"version\":1", "\"version\":2"));
    c.save("reserved-name", replaced(full, "\"name\":\"cache\"", "\"name\":\"luod.x\""));
    c.save("token-not-below-next", replaced(full, "\"next_token\":4", "\"next_token\":3"));
    c.save("duplicate-label", replaced(full, "\"label\":\"nic\"", "\"label\":\"guest-ram\""));
    c.save("bad-state", replaced(full, "\"state\":\"open\"", "\"state\":\"frozen\""));
    c.save("wrong-type", replaced(full, "\"owner_uid\":1000", "\"owner_uid\":\"1000\""));
    c.save("truncated", full.substr(0, full.size() / 2));
}

std::string memfd_contents(int fd)
{
    struct stat st;
    if (::fstat(fd, &st) < 0)
        throw std::runtime_error("fstat");
    std::string out(static_cast<std::size_t>(st.st_size), '\0');
    if (::pread(fd, out.data(), out.size(), 0) != static_cast<ssize_t>(out.size()))
        throw std::runtime_error("pread");
    return out;
}

void manifest_store_seeds(const fs::path& out)
{
    const Corpus c{out / "manifest_store"};
    constexpr std::size_t kSize = 3 * 4096;  // the smallest store: header page, two slots
    std::string full = luod::encode_manifest(sample_manifest());
    auto fresh = luod::ManifestStore::create(kSize);
    c.save("fresh", memfd_contents(fresh.fd()));
    auto one = luod::ManifestStore::create(kSize);
    one.write(luod::encode_manifest(luod::Manifest{}));
    c.save("slot0-empty-manifest", memfd_contents(one.fd()));
    auto two = luod::ManifestStore::create(kSize);
    two.write(luod::encode_manifest(luod::Manifest{}));
    two.write(full);
    std::string contents = memfd_contents(two.fd());
    c.save("slot1-full-manifest", contents);
    contents[4096 + 4096 + 10] ^= 1;  // a torn slot: the checksum no longer matches
    c.save("slot1-bad-checksum", contents);
}

// --- config and names -------------------------------------------------------------------

void config_seeds(const fs::path& out, const fs::path& shipped)
{
    const Corpus c{out / "config"};
    std::ifstream in(shipped);
    std::stringstream text;
    text << in.rdbuf();
    if (!in || text.str().empty())
        throw std::runtime_error("cannot read " + shipped.native());
    c.save("shipped-luod.conf", text.str());
    c.save("all-keys",
         "[Sessions]\nMaxSessionsPerUser=8\nMaxFilesPerSession=128\nMaxFilesPerUser=512\nMaxBytesPerUser=2G\n"
         "SessionsReservedForRoot=4\nNamePrefixesReservedForRoot=vm- db.\n"
         "[Daemon]\nManifestSizeMiB=16\nLogLevel=debug\n"
         "[Update]\nUnclaimedTimeoutSec=0\nDelayTimeoutSec=86400\nStrategy=systemd\nMaxInhibitors=100\n"
         "MaxInhibitorsPerUser=8\nInhibitorsReservedForRoot=10\n");
    c.save("bytes-per-cent", "[Sessions]\nMaxBytesPerUser=10%\n");
    c.save("empty", "");
    c.save("bad-value", "[Sessions]\nMaxFilesPerSession=0\n");
    c.save("out-of-range", "[Update]\nUnclaimedTimeoutSec=31536001\n");
    c.save("unknown-key", "[Daemon]\nLogLevel=info\nColour=yes\n");
    c.save("unknown-section", "[Network]\nPort=1\n");
    c.save("syntax-error", "[Daemon\nLogLevel=info\n");
    c.save("comments-and-spacing", "; comment\n# comment\n[Update]\n  Strategy = direct ; inline\n\n[Daemon]\nManifestSizeMiB = 1024\n");
}

void names_seeds(const fs::path& out)
{
    const Corpus c{out / "names"};
    const std::vector<std::pair<std::string, std::string>> seeds{
        {"plain", "vm-1"},
        {"reserved-luod", "luod"},
        {"reserved-prefix", "luod.probe"},
        {"reserved-systemd", "systemd"},
        {"slash", "a/b"},
        {"control", "tab\there"},
        {"backslash", "back\\slash"},
        {"utf8", "g\xc3\xa4st-\xe6\x97\xa5\xe6\x9c\xac-\xf0\x9f\x90\xa7"},
        {"max-name", std::string(63, 'x')},
        {"too-long-name", std::string(64, 'x')},
        {"max-label", std::string(255, 'l')},
        {"too-long-label", std::string(256, 'l')},
        {"overlong", "\xc0\xaf"},
        {"surrogate", "\xed\xa0\x80"},
        {"past-max", "\xf4\x90\x80\x80"},
        {"truncated", "ok\xe2\x82"},
        {"nul", std::string("a\0b", 3)},
        {"del", "a\x7f"},
    };
    for (const auto& [name, text] : seeds)
        c.save(name, text);
}

// --- method_options: u8 method, then (key, type, value) records (see method_options.cpp) ---

void method_options_seeds(const fs::path& out)
{
    const Corpus c{out / "method_options"};
    enum : std::uint8_t { kOwnerUID, kOwnerUnit, kReuseCmdline, kNoLiveUpdateFlags, kDryRun, kForce, kDelay, kStrategy };
    enum : std::uint8_t { b, u, t, s, i };
    auto str = [](Writer& w, std::string_view v) -> Writer& {
        return w.u16(static_cast<std::uint16_t>(v.size())).string(v);
    };
    Writer w;
    c.save("create-empty", Writer().u8(0));
    w = Writer();
    w.u8(0).u8(kOwnerUID).u8(u).u32(1000).u8(kOwnerUnit).u8(s);
    c.save("create-on-behalf", str(w, "qemu@vm-1.service"));
    c.save("create-uid-minus-one", Writer().u8(0).u8(kOwnerUID).u8(u).u32(UINT32_MAX));
    w = Writer();
    w.u8(0).u8(kOwnerUnit).u8(s);
    c.save("create-unit-newline", str(w, "vmm.service\nLUO_SESSION=x"));
    c.save("create-uid-as-int32", Writer().u8(0).u8(kOwnerUID).u8(i));
    w = Writer();
    w.u8(0).u8(0x80).u8(6).string("Colour").u8(s);
    c.save("create-unknown-key", str(w, "blue"));
    c.save("load-both", Writer().u8(1).u8(kReuseCmdline).u8(b).u8(1).u8(kNoLiveUpdateFlags).u8(b).u8(0));
    // The signature says b, the value is a string.
    w = Writer();
    w.u8(1).u8(kReuseCmdline).u8(0x08 | b | (s << 4));
    c.save("load-lying-signature", str(w, "yes"));
    w = Writer();
    w.u8(2).u8(kDryRun).u8(b).u8(1).u8(kForce).u8(b).u8(0).u8(kDelay).u8(t).u64(5000000).u8(kStrategy).u8(s);
    c.save("update-all", str(w, "direct"));
    c.save("update-delay-over-a-day", Writer().u8(2).u8(kDelay).u8(t).u64(UINT64_MAX));
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc != 3) {
        std::cerr << "usage: make_seeds <corpus dir> <daemon/luod.conf>\n";
        return 2;
    }
    try {
        fs::path out = argv[1];
        model_request_seeds(out);
        model_ioctl_seeds(out);
        handover_seeds(out);
        manifest_seeds(out);
        manifest_store_seeds(out);
        config_seeds(out, argv[2]);
        names_seeds(out);
        method_options_seeds(out);
    } catch (const std::exception& e) {
        std::cerr << "make_seeds: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
