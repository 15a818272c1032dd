// SPDX-License-Identifier: Apache-2.0
// luod's pure parts: names and labels, luod.conf, the manifest format and its store.
#include <sys/mman.h>
#include <unistd.h>
#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "luo_catch.h"

#include "api_error.h"
#include "config.h"
#include "fd_store.h"
#include "kernel_loader.h"
#include "manifest.h"
#include "manifest_log.h"
#include "luo/error.h"
#include "manifest_store.h"
#include "method_options.h"
#include "names.h"
#include "usage_ledger.h"

using namespace luod;

namespace {

ErrorKind kind_of(const std::function<void()>& f)
{
    try {
        f();
    } catch (const ApiError& e) {
        return e.kind();
    }
    return ErrorKind::failed;
}

Manifest sample_manifest()
{
    Manifest m;
    m.generation = 7;
    m.written_usec = 1700000000000000;
    m.boot_id = "6f1c";
    m.live_update_count = 2;
    ManifestSession s;
    s.name = "vm-1";
    s.kind = "outgoing";
    s.state = "open";
    s.owner_uid = 1000;
    s.owner_unit = "qemu@vm-1.service";
    s.created_usec = 1700000000000001;
    s.next_token = 3;
    s.files = {{"ram", 1, "memfd", false, ""}, {"dev", 2, "vfio", true, "/dev/vfio/devices/vfio0"}};
    m.sessions.push_back(s);
    m.last_update = {{"result", "success"}};
    return m;
}

}  // namespace

TEST_CASE("session names: length, characters and reserved names", "[luod][unit][names]")
{
    CHECK_NOTHROW(validate_session_name("vm-1"));
    CHECK_NOTHROW(validate_session_name(std::string(63, 'a')));
    CHECK_NOTHROW(validate_session_name("machine \xc3\xa9t\xc3\xa9"));  // UTF-8
    CHECK(kind_of([] { validate_session_name(""); }) == ErrorKind::invalid_args);
    CHECK(kind_of([] { validate_session_name(std::string(64, 'a')); }) == ErrorKind::invalid_args);
    CHECK(kind_of([] { validate_session_name("a/b"); }) == ErrorKind::invalid_args);
    CHECK(kind_of([] { validate_session_name(std::string("a\0b", 3)); }) == ErrorKind::invalid_args);
    CHECK(kind_of([] { validate_session_name("\xff\xfe"); }) == ErrorKind::invalid_args);
    CHECK(kind_of([] { validate_session_name("\xc0\xaf"); }) == ErrorKind::invalid_args);  // overlong '/'
    CHECK(kind_of([] { validate_session_name("systemd"); }) == ErrorKind::name_reserved);
    CHECK(kind_of([] { validate_session_name("luod"); }) == ErrorKind::name_reserved);
    CHECK(kind_of([] { validate_session_name("luod.probe"); }) == ErrorKind::name_reserved);
    CHECK_NOTHROW(validate_session_name("luodish"));
    CHECK(kind_of([] { validate_label(std::string(256, 'l')); }) == ErrorKind::invalid_args);
    CHECK(kind_of([] { validate_label("line\nbreak"); }) == ErrorKind::invalid_args);
    CHECK_NOTHROW(validate_label("guest ram / node 0"));
    CHECK(printable("a\nb\xff") == "a\\x0ab\\xff");
}

TEST_CASE("owner units: a .service or .scope in systemd's unit name syntax", "[luod][unit][names]")
{
    for (const char* ok : {"vmm.service", "qemu@vm-1.service", "run-u42.scope", "a:b_c-d.e\\x2d.service"})
        CHECK(kind_of([&] { validate_unit_name(ok); }) == ErrorKind::failed);  // nothing thrown
    for (const std::string& bad : std::vector<std::string>{"", ".service", "vmm", "vmm.timer", "vmm.service\n", "v m.service", "vmm/.service",
                                  "qemu@.service", "@vm.service", "a@b@c.service", "v\xc3\xa9.service",
                                  std::string(248, 'a') + ".service"})
        CHECK(kind_of([&] { validate_unit_name(bad); }) == ErrorKind::invalid_args);
    CHECK(kind_of([&] { validate_unit_name(std::string(247, 'a') + ".service"); }) == ErrorKind::failed);
}

TEST_CASE("method options: known keys, exact types, values in range", "[luod][unit][options]")
{
    auto value = [](const char* signature, decltype(OptionValue::value) v) { return OptionValue{signature, std::move(v)}; };
    auto create = parse_create_session_options({{"OwnerUID", value("u", std::uint32_t{1000})},
                                                {"OwnerUnit", value("s", std::string("vmm.service"))}});
    CHECK(create.owner_uid == 1000u);
    CHECK(create.owner_unit == "vmm.service");
    CHECK(parse_create_session_options({{"OwnerUnit", value("s", std::string())}}).owner_unit == "");
    auto update = parse_update_options({{"DryRun", value("b", true)},
                                        {"DelayTimeoutUSec", value("t", kMaxDelayTimeoutUSec)},
                                        {"Strategy", value("s", std::string("direct"))}});
    CHECK(update.dry_run);
    CHECK_FALSE(update.force);
    CHECK(update.delay_timeout == std::chrono::hours(24));
    CHECK(update.strategy == "direct");
    auto load = parse_load_kernel_options({{"NoLiveUpdateFlags", value("b", true)}});
    CHECK(load.no_liveupdate_flags);
    CHECK_FALSE(load.reuse_cmdline);

    auto refused = [&](auto parse, Options o) { return kind_of([&] { parse(o); }) == ErrorKind::invalid_args; };
    CHECK(refused(parse_create_session_options, {{"Colour", value("s", std::string("blue"))}}));
    CHECK(refused(parse_create_session_options, {{"OwnerUID", value("t", std::uint64_t{0})}}));
    CHECK(refused(parse_create_session_options, {{"OwnerUID", value("i", std::monostate{})}}));
    CHECK(refused(parse_create_session_options, {{"OwnerUID", value("u", UINT32_MAX)}}));
    CHECK(refused(parse_create_session_options, {{"OwnerUnit", value("s", std::string("vmm.service\nFAKE=1"))}}));
    CHECK(refused(parse_update_options, {{"DelayTimeoutUSec", value("t", kMaxDelayTimeoutUSec + 1)}}));
    CHECK(refused(parse_update_options, {{"DelayTimeoutUSec", value("t", UINT64_MAX)}}));
    CHECK(refused(parse_update_options, {{"Force", value("u", std::uint32_t{1})}}));
    CHECK(refused(parse_load_kernel_options, {{"ReuseCmdline", value("s", std::string("yes"))}}));
    // A signature that says one type over a value of another is refused, not believed.
    CHECK(refused(parse_load_kernel_options, {{"ReuseCmdline", value("b", std::string("yes"))}}));
}

TEST_CASE("luod.conf: defaults, every key, and errors that name the line", "[luod][unit][config]")
{
    Config d = parse_config("", "empty");
    CHECK(d.max_sessions_per_user == 64);
    CHECK(d.strategy == "auto");
    Config c = parse_config("[Sessions]\nMaxSessionsPerUser=3\nMaxFilesPerSession=9\n[Daemon]\nManifestSizeMiB=2\n"
                            "LogLevel=debug\n[Update]\nUnclaimedTimeoutSec=0\nDelayTimeoutSec=5\nStrategy=direct\n",
                            "full");
    CHECK(c.max_sessions_per_user == 3);
    CHECK(c.max_files_per_session == 9);
    CHECK(c.manifest_size_mib == 2);
    CHECK(c.log_level == "debug");
    CHECK(c.unclaimed_timeout == std::chrono::seconds(0));
    CHECK(c.delay_timeout == std::chrono::seconds(5));
    CHECK(c.strategy == "direct");
    // Sizes take K, M, G and T (powers of 1024) or a per cent of the machine's memory.
    CHECK(d.bytes_per_user(1000) == 250);
    CHECK(parse_config("[Sessions]\nMaxBytesPerUser=1M\n", "s").bytes_per_user(1000) == 1u << 20);
    CHECK(parse_config("[Sessions]\nMaxBytesPerUser=3G\n", "s").max_bytes_per_user == 3ull << 30);
    CHECK(parse_config("[Sessions]\nMaxBytesPerUser=4096\n", "s").max_bytes_per_user == 4096);
    CHECK(parse_config("[Sessions]\nMaxBytesPerUser=50%\n", "s").bytes_per_user(1000) == 500);
    // At most 1 PiB whatever the suffix: the same bound in bytes as in T.
    CHECK(parse_config("[Sessions]\nMaxBytesPerUser=1024T\n", "s").max_bytes_per_user == 1ull << 50);
    CHECK(parse_config("[Sessions]\nMaxBytesPerUser=1125899906842624\n", "s").max_bytes_per_user == 1ull << 50);
    for (const char* bad : {"0", "1X", "M", "101%", "0%", "-1K", "99999999999T", "1025T", "5255555555555M",
                            "1125899906842625"})
        CHECK_THROWS_WITH(parse_config(std::string("[Sessions]\nMaxBytesPerUser=") + bad + "\n", "luod.conf"),
                          std::string("luod.conf: line 2: bad value '") + bad + "' for MaxBytesPerUser");
    Config limits = parse_config("[Sessions]\nMaxFilesPerUser=7\nSessionsReservedForRoot=3\n[Update]\nMaxInhibitors=9\n"
                                 "MaxInhibitorsPerUser=2\nInhibitorsReservedForRoot=4\n",
                                 "limits");
    CHECK(limits.max_files_per_user == 7);
    CHECK(limits.sessions_reserved_for_root == 3);
    CHECK(limits.max_inhibitors == 9);
    CHECK(limits.max_inhibitors_per_user == 2);
    CHECK(limits.inhibitors_reserved_for_root == 4);
    CHECK(d.name_prefixes_reserved_for_root.empty());
    CHECK(parse_config("[Sessions]\nNamePrefixesReservedForRoot= vm- \tdb.prod  x\n", "s").name_prefixes_reserved_for_root ==
          std::vector<std::string>{"vm-", "db.prod", "x"});
    for (const std::string& bad : std::vector<std::string>{"a/b", "vm-\xc3\xa9", std::string(63, 'x')})
        CHECK_THROWS_WITH(parse_config(std::string("[Sessions]\nNamePrefixesReservedForRoot=") + bad + "\n", "luod.conf"),
                          std::string("luod.conf: line 2: bad value '") + bad + "' for NamePrefixesReservedForRoot");
    CHECK_THROWS_WITH(parse_config("[Sessions]\n\nMaxSession=3\n", "luod.conf"),
                      "luod.conf: line 3: unknown key MaxSession in [Sessions]");
    CHECK_THROWS_WITH(parse_config("[Nope]\nX=1\n", "luod.conf"), "luod.conf: line 2: unknown section [Nope]");
    CHECK_THROWS_WITH(parse_config("[Update]\nStrategy=fast\n", "luod.conf"),
                      "luod.conf: line 2: bad value 'fast' for Strategy");
    CHECK_THROWS_WITH(parse_config("[Sessions]\nMaxFilesPerSession=-1\n", "luod.conf"),
                      "luod.conf: line 2: bad value '-1' for MaxFilesPerSession");
    CHECK_THROWS(parse_config("[Sessions\n", "luod.conf"));
    // inih would split a line over 199 bytes in two, read an indented line as a new value
    // for the key above and stop at a NUL: each is refused with our line number instead.
    std::string long_prefixes;
    for (int i = 0; i < 20; ++i)
        long_prefixes += "prefix-" + std::to_string(i) + " ";
    CHECK_THROWS_WITH(parse_config("[Sessions]\nNamePrefixesReservedForRoot=" + long_prefixes + "\n", "luod.conf"),
                      "luod.conf: line 2: longer than 199 bytes");
    CHECK(parse_config("[Sessions]\nNamePrefixesReservedForRoot=" + std::string(62, 'x') + "\n" +
                           std::string(250, ' ') + "\n",
                       "s")
              .name_prefixes_reserved_for_root.size() == 1);
    CHECK_THROWS_WITH(parse_config("[Sessions]\nNamePrefixesReservedForRoot=vm-\n\n  ; a comment\n  db-\n", "luod.conf"),
                      "luod.conf: line 5: an indented line would continue the value above; write each key=value on one "
                      "line");
    CHECK(parse_config("  [Sessions]\n  MaxSessionsPerUser=5\n[Update]\n  Strategy=direct\n", "s").strategy == "direct");
    CHECK_THROWS_WITH(parse_config(std::string("[Sessions]\nMaxSessionsPerUser=5\0\nMaxSessionsPerUser=6\n", 54),
                                   "luod.conf"),
                      "luod.conf: line 2: contains a NUL byte");
    CHECK_THROWS_WITH(load_config("/nonexistent/luod.conf", true), "/nonexistent/luod.conf: cannot be read");
    CHECK(load_config("/nonexistent/luod.conf", false).max_sessions_per_user == 64);
}

TEST_CASE("the manifest round-trips and refuses malformed documents", "[luod][unit][manifest]")
{
    Manifest m = sample_manifest();
    CHECK(decode_manifest(encode_manifest(m)) == m);
    auto refuses = [](const std::string& text) {
        try {
            decode_manifest(text);
        } catch (const ManifestError&) {
            return true;
        }
        return false;
    };
    std::string good = encode_manifest(m);
    auto with = [&](const std::string& from, const std::string& to) {
        std::string s = good;
        auto at = s.find(from);
        REQUIRE(at != std::string::npos);
        return s.replace(at, from.size(), to);
    };
    CHECK(refuses(""));
    CHECK(refuses("[]"));
    CHECK(refuses(with("\"version\":1", "\"version\":2")));
    CHECK(refuses(with("\"format\":\"luod-manifest\"", "\"format\":\"other\"")));
    CHECK(refuses(with("\"name\":\"vm-1\"", "\"name\":\"luod\"")));
    CHECK(refuses(with("\"kind\":\"outgoing\"", "\"kind\":\"sideways\"")));
    CHECK(refuses(with("\"owner_uid\":1000", "\"owner_uid\":\"root\"")));
    CHECK(refuses(with("\"label\":\"dev\"", "\"label\":\"ram\"")));
    CHECK(refuses(with("\"next_token\":3", "\"next_token\":2")));
    CHECK(refuses(with("\"sessions\":[", "\"sessions\":{\"x\":[") + "}"));
    // Numbers must be unsigned integers that fit (found by fuzzing: out-of-range floats were
    // undefined behaviour, and 2^32 wrapped to uid 0).
    CHECK(refuses(with("\"version\":1", "\"version\":1e30")));
    CHECK(refuses(with("\"version\":1", "\"version\":4294967297")));
    CHECK(refuses(with("\"owner_uid\":1000", "\"owner_uid\":4294967296")));
    CHECK(refuses(with("\"owner_uid\":1000", "\"owner_uid\":1000.5")));
    CHECK(refuses(with("\"owner_uid\":1000", "\"owner_uid\":-1")));
    CHECK(refuses(with("\"next_token\":3", "\"next_token\":176722550006099900000000")));
}

TEST_CASE("the manifest store keeps the last whole manifest", "[luod][unit][manifest]")
{
    ManifestStore store = ManifestStore::create(64 * 1024);
    CHECK_FALSE(store.read().has_value());
    store.write("first");
    store.write("second");
    CHECK(store.read() == "second");
    // Its size is fixed, as a preserved memfd's is.
    CHECK(::ftruncate(store.fd(), 128 * 1024) < 0);
    CHECK_THROWS(store.write(std::string(store.slot_capacity() + 1, 'x')));
    CHECK(store.read() == "second");
    // A torn slot write (a crash before the header moved) leaves the previous manifest.
    REQUIRE(::pwrite(store.fd(), "garbage", 7, 4096) == 7);
    REQUIRE(::pwrite(store.fd(), "garbage", 7, 4096 + static_cast<off_t>(store.slot_capacity())) == 7);
    CHECK_FALSE(store.read().has_value());  // both slots torn: nothing trustworthy
    ManifestStore again = ManifestStore::create(64 * 1024);
    again.write("one");
    again.write("two");  // slot B
    REQUIRE(::pwrite(again.fd(), "XXX", 3, 4096) == 3);  // slot A (not current) torn
    CHECK(again.read() == "two");
    ManifestStore adopted = ManifestStore::adopt(luo::dup_fd(again.fd()));
    CHECK(adopted.read() == "two");
    adopted.write("three");
    CHECK(adopted.read() == "three");
}

TEST_CASE("the manifest log: entries across segments, a torn tail and stale entries end it", "[luod][unit][manifest]")
{
    constexpr std::size_t kSegment = 4096;
    ManifestLog log(7, kSegment);
    CHECK_THROWS(log.append("x"));  // no segment: no room
    log.add_segment(1, ManifestLog::make_segment(kSegment));
    log.add_segment(2, ManifestLog::make_segment(kSegment));
    std::vector<std::string> written;
    for (int i = 0; log.room() >= ManifestLog::entry_size(300); ++i) {
        written.push_back(std::string(300, static_cast<char>('a' + i % 26)));
        log.append(written.back());
    }
    CHECK(written.size() == 2 * kSegment / ManifestLog::entry_size(300));  // some entry spans the two
    CHECK_THROWS(log.append(std::string(log.room(), 'z')));               // nothing written
    // A reader of the same segments finds every entry.
    auto reader = [&](std::uint64_t epoch) {
        ManifestLog again(epoch, kSegment);
        for (const auto& s : log.segments())
            again.add_segment(s.token, luo::dup_fd(s.fd.get()));
        return again;
    };
    ManifestLog copy = reader(7);
    CHECK(copy.read() == written);
    CHECK(copy.end() == log.end());
    // Entries of another epoch are not this log's.
    CHECK(reader(8).read().empty());
    // A torn last entry (killed mid-write): the log ends before it, and appends go there.
    std::size_t last = log.end() - ManifestLog::entry_size(300);
    REQUIRE(::pwrite(log.segments()[last / kSegment].fd.get(), "X", 1, static_cast<off_t>(last % kSegment + 60)) == 1);
    ManifestLog torn = reader(7);
    written.pop_back();
    CHECK(torn.read() == written);
    torn.append("after");
    written.push_back("after");
    CHECK(reader(7).read() == written);
    // Restarted with a new epoch, the old entries no longer count.
    torn.restart(9);
    torn.append("fresh");
    CHECK(reader(9).read() == std::vector<std::string>{"fresh"});
}

TEST_CASE("walking the manifest log gives each entry's offset and first bytes, and each is checked when read",
          "[luod][unit][manifest]")
{
    constexpr std::size_t kSegment = 4096;
    ManifestLog log(3, kSegment);
    log.add_segment(1, ManifestLog::make_segment(kSegment));
    log.add_segment(2, ManifestLog::make_segment(kSegment));
    std::vector<std::string> written;
    for (int i = 0; log.room() >= ManifestLog::entry_size(500); ++i) {
        written.push_back(R"({"n":"vm-)" + std::to_string(i) + R"(","s":")" + std::string(470, 'p') + "\"}");
        log.append(written.back());
    }
    auto reader = [&] {
        ManifestLog again(3, kSegment);
        for (const auto& s : log.segments())
            again.add_segment(s.token, luo::dup_fd(s.fd.get()));
        return again;
    };
    ManifestLog walked = reader();
    std::vector<std::size_t> offsets;
    std::vector<std::string> heads;
    walked.walk(16, [&](std::size_t offset, std::size_t length, std::string_view head) {
        CHECK(length == written[offsets.size()].size());
        offsets.push_back(offset);
        heads.emplace_back(head);
    });
    REQUIRE(offsets.size() == written.size());
    CHECK(walked.end() == log.end());
    for (std::size_t i = 0; i < written.size(); ++i) {
        CHECK(heads[i] == written[i].substr(0, 16));
        CHECK(walked.read_entry(offsets[i]) == written[i]);  // across the segments' seam too
    }
    // A damaged entry in the middle is found when it is read; a torn last one is not visited.
    REQUIRE(::pwrite(log.segments()[0].fd.get(), "X", 1, static_cast<off_t>(offsets[1] + 100)) == 1);
    std::size_t last = offsets.back();
    REQUIRE(::pwrite(log.segments()[last / kSegment].fd.get(), "X", 1, static_cast<off_t>(last % kSegment + 100)) == 1);
    ManifestLog damaged = reader();
    std::size_t visited = 0;
    damaged.walk(16, [&](std::size_t, std::size_t, std::string_view) { ++visited; });
    CHECK(visited == written.size() - 1);
    CHECK(damaged.end() == last);
    CHECK(!damaged.read_entry(offsets[1]));
    CHECK(damaged.read_entry(offsets[2]) == written[2]);
}

TEST_CASE("a session's entries are read together: entries side by side, a short gap, a long one and an entry across "
          "the segments' seam come back whole, each checked against its length",
          "[luod][unit][manifest]")
{
    constexpr std::size_t kSegment = 4096;
    ManifestLog log(6, kSegment);
    for (std::uint64_t token = 1; token <= 4; ++token)
        log.add_segment(token, ManifestLog::make_segment(kSegment));
    std::map<char, std::vector<std::string>> written;  // by session, in order
    auto append = [&](char who, std::size_t size) {
        std::string payload = R"({"n":")" + std::string(1, who) + R"(","s":")" + std::string(size, who) + "\"}";
        log.append(payload);
        written[who].push_back(payload);
    };
    append('a', 300);
    append('a', 200);   // beside the one before: one read
    append('b', 4500);  // longer than a run's gap, and across a seam: a's next is read apart
    append('a', 100);
    append('c', 1000);  // a short gap: a's next is read with it
    append('a', 80);
    // Others' entries up to near the end of a segment, then one of a's across the seam.
    constexpr std::size_t kAcross = 400;
    while (kSegment - log.end() % kSegment > ManifestLog::entry_size(kAcross))
        append('c', 50);
    std::size_t seam_at = log.end();
    append('a', kAcross);
    REQUIRE(seam_at / kSegment != (log.end() - 1) / kSegment);
    append('a', 50);
    append('a', 60);
    auto reader = [&] {
        ManifestLog again(6, kSegment);
        for (const auto& s : log.segments())
            again.add_segment(s.token, luo::dup_fd(s.fd.get()));
        return again;
    };
    ManifestLog walked = reader();
    std::map<char, std::vector<ManifestLog::Extent>> extents;
    walked.walk(8, [&](std::size_t offset, std::size_t length, std::string_view head) {
        extents[head[6]].push_back(ManifestLog::Extent{offset, length});
    });
    REQUIRE(extents.size() == 3);
    for (const auto& [who, at] : extents) {
        INFO("session " << who);
        CHECK(walked.read_entries(at) == written[who]);
    }
    CHECK(walked.read_entries({}) == std::vector<std::string>{});
    // Each entry is checked: a length not its own, or a damaged byte, fails that session's read
    // and no other's.
    std::vector<ManifestLog::Extent> wrong = extents['a'];
    wrong[1].length += 1;
    CHECK(!walked.read_entries(wrong));
    wrong = extents['a'];
    wrong[0].length = std::numeric_limits<std::size_t>::max() - 8;
    CHECK(!walked.read_entries(wrong));
    std::size_t damaged_at = extents['a'][4].offset + ManifestLog::kEntryHeader + 10;  // the one across the seam
    REQUIRE(::pwrite(log.segments()[damaged_at / kSegment].fd.get(), "X", 1,
                     static_cast<off_t>(damaged_at % kSegment)) == 1);
    ManifestLog damaged = reader();
    CHECK(!damaged.read_entries(extents['a']));
    CHECK(damaged.read_entries(extents['b']) == written['b']);
    CHECK(damaged.read_entries(extents['c']) == written['c']);
}

TEST_CASE("segments of the manifest log added later are fetched when first read: the last entry needs only its "
          "own, a walk fetches the rest in order, and one that cannot be fetched fails the read",
          "[luod][unit][manifest]")
{
    constexpr std::size_t kSegment = 4096;
    ManifestLog log(5, kSegment);
    for (std::uint64_t token = 1; token <= 4; ++token)
        log.add_segment(token, ManifestLog::make_segment(kSegment));
    std::vector<std::string> written;
    while (log.room() >= ManifestLog::entry_size(200)) {
        written.push_back(R"({"n":"vm-)" + std::to_string(written.size()) + R"(","s":")" + std::string(170, 'q') + "\"}");
        log.append(written.back());
    }
    std::size_t last = log.end() - ManifestLog::entry_size(written.back().size());
    REQUIRE(last / kSegment == 3);
    std::vector<std::uint64_t> fetched;  // tokens, in the order the reader asked for them
    std::set<std::uint64_t> missing;
    auto reader = [&] {
        ManifestLog again(5, kSegment);
        for (const auto& s : log.segments())
            again.add_segment_later(s.token, [&, fd = s.fd.get()](std::uint64_t token) {
                fetched.push_back(token);
                return missing.count(token) ? luo::UniqueFd() : luo::dup_fd(fd);
            });
        return again;
    };
    ManifestLog lazy = reader();
    CHECK(lazy.segments_fetched() == 0);
    CHECK(lazy.read_last(last, written.size()) == written.back());
    CHECK(fetched == std::vector<std::uint64_t>{4});  // the last entry's segment only
    CHECK(lazy.segments_fetched() == 1);
    std::size_t visited = 0;
    lazy.walk(16, [&](std::size_t, std::size_t, std::string_view) { ++visited; });
    CHECK(visited == written.size());
    CHECK(fetched == std::vector<std::uint64_t>{4, 1, 2, 3});  // each once
    CHECK(lazy.end() == log.end());
    // A segment the kernel no longer gives: reading into it fails, with its token named.
    fetched.clear();
    missing = {2};
    ManifestLog gap = reader();
    CHECK(gap.read_last(last, written.size()) == written.back());
    try {
        gap.walk(16, [](std::size_t, std::size_t, std::string_view) {});
        FAIL("the walk went past a missing segment");
    } catch (const luo::Error& e) {
        CHECK(e.errno_value() == ENOENT);
        CHECK(std::string(e.what()).find("segment 2") != std::string::npos);
    }
    // One of another size ends the log before it, as an adopted one does.
    missing.clear();
    fetched.clear();
    ManifestLog resized(5, kSegment);
    resized.add_segment(1, luo::dup_fd(log.segments()[0].fd.get()));
    resized.add_segment_later(2, [](std::uint64_t) { return ManifestLog::make_segment(2 * kSegment); });
    std::vector<std::string> first = resized.read();
    CHECK(first.size() < written.size());
    CHECK(std::equal(first.begin(), first.end(), written.begin()));
    CHECK(resized.end() <= kSegment);
}

TEST_CASE("a walk of the manifest log in steps visits what one walk visits, in order, and ends the log alike",
          "[luod][unit][manifest]")
{
    constexpr std::size_t kSegment = 4096;
    ManifestLog log(5, kSegment);
    log.add_segment(1, ManifestLog::make_segment(kSegment));
    log.add_segment(2, ManifestLog::make_segment(kSegment));
    for (int i = 0; log.room() >= ManifestLog::entry_size(300); ++i)
        log.append(R"({"n":"vm-)" + std::to_string(i) + R"(","s":")" + std::string(i % 7 * 40, 'p') + "\"}");
    auto reader = [&] {
        ManifestLog again(5, kSegment);
        for (const auto& s : log.segments())
            again.add_segment(s.token, luo::dup_fd(s.fd.get()));
        return again;
    };
    using Visited = std::vector<std::pair<std::size_t, std::string>>;
    auto whole = [&](ManifestLog& l) {
        Visited out;
        l.walk(12, [&](std::size_t offset, std::size_t, std::string_view head) { out.emplace_back(offset, head); });
        return out;
    };
    ManifestLog at_once = reader();
    Visited expected = whole(at_once);
    REQUIRE(expected.size() == log.entries());
    for (std::size_t most : {std::size_t{1}, std::size_t{3}, expected.size() - 1, expected.size()}) {
        ManifestLog stepped = reader();
        ManifestLog::Walk walk(stepped, 12);
        Visited got;
        std::size_t steps = 0;
        bool done = false;
        while (!done) {
            std::size_t before = got.size();
            done = walk.step(most, [&](std::size_t offset, std::size_t, std::string_view head) {
                got.emplace_back(offset, head);
            });
            ++steps;
            CHECK(got.size() - before <= most + 1);  // the last entry comes with the end
            REQUIRE(steps <= expected.size() + 1);
        }
        CHECK(walk.done());
        CHECK(walk.visited() == expected.size());
        CHECK(got == expected);
        CHECK(stepped.end() == log.end());
        CHECK(walk.step(most, [&](std::size_t, std::size_t, std::string_view) { FAIL("visited after the end"); }));
    }
    {
        // Appends continue after the last entry, as after a whole walk.
        ManifestLog stepped = reader();
        ManifestLog::Walk walk(stepped, 12);
        while (!walk.step(3, [](std::size_t, std::size_t, std::string_view) {})) {
        }
        stepped.append("next");
        ManifestLog check = reader();
        std::vector<std::string> entries = check.read();
        CHECK(entries.size() == expected.size() + 1);
        CHECK(entries.back() == "next");
    }
    // A damaged header in the middle ends a stepped walk there, as it ends a whole one.
    REQUIRE(::pwrite(log.segments()[0].fd.get(), "X", 1, static_cast<off_t>(expected[4].first)) == 1);
    ManifestLog damaged = reader();
    ManifestLog::Walk walk(damaged, 12);
    std::size_t visited = 0;
    while (!walk.step(2, [&](std::size_t, std::size_t, std::string_view) { ++visited; })) {
    }
    CHECK(visited == 4);
    CHECK(damaged.end() == expected[4].first);
}

TEST_CASE("the manifest log's last entry is read alone when it is still the last, and not when the log went on",
          "[luod][unit][manifest]")
{
    constexpr std::size_t kSegment = 4096;
    ManifestLog log(5, kSegment);
    log.add_segment(1, ManifestLog::make_segment(kSegment));
    log.add_segment(2, ManifestLog::make_segment(kSegment));
    while (log.room() >= ManifestLog::entry_size(700) + ManifestLog::entry_size(100))
        log.append(std::string(700, 's'));  // the last of them spans the seam
    std::size_t at = log.end();
    std::uint64_t seq = log.entries() + 1;
    log.append(R"({"h":{"written_usec":1}})");
    auto reader = [&](std::uint64_t epoch) {
        ManifestLog again(epoch, kSegment);
        for (const auto& s : log.segments())
            again.add_segment(s.token, luo::dup_fd(s.fd.get()));
        return again;
    };
    ManifestLog last = reader(5);
    CHECK(last.read_last(at, seq) == R"({"h":{"written_usec":1}})");
    CHECK(last.end() == log.end());
    CHECK(last.entries() == seq);
    CHECK(!reader(5).read_last(at, seq + 1));      // another entry's number
    CHECK(!reader(5).read_last(at + 1, seq));      // not where an entry starts
    CHECK(!reader(6).read_last(at, seq));          // another epoch's
    CHECK(!reader(5).read_last(at - 740, seq - 1));  // an entry follows it
    // A torn append after it: it is still the last whole entry.
    std::size_t torn_at = log.end();
    log.append("x");
    REQUIRE(::pwrite(log.segments()[1].fd.get(), "Y", 1, static_cast<off_t>(torn_at % kSegment + 40)) == 1);
    CHECK(reader(5).read_last(at, seq) == R"({"h":{"written_usec":1}})");
    // A whole entry after it: the log went on.
    REQUIRE(::pwrite(log.segments()[1].fd.get(), "x", 1, static_cast<off_t>(torn_at % kSegment + 40)) == 1);
    CHECK(!reader(5).read_last(at, seq));
    CHECK(reader(5).read_last(torn_at, seq + 1) == "x");
    // Damaged: not read.
    REQUIRE(::pwrite(log.segments()[1].fd.get(), "Z", 1, static_cast<off_t>(torn_at % kSegment + 40)) == 1);
    CHECK(!reader(5).read_last(torn_at, seq + 1));
}

TEST_CASE("a manifest log entry is told from its first bytes when luod wrote it, and replayed one session at a time",
          "[luod][unit][manifest]")
{
    std::string name;
    std::string_view state = R"({"h":{"written_usec":1}})", erasure = R"({"n":"vm-1","x":true})";
    CHECK(classify_manifest_entry(state, state.size(), name) == ManifestEntryKind::state);
    CHECK(classify_manifest_entry(erasure, erasure.size(), name) == ManifestEntryKind::erasure);
    CHECK(name == "vm-1");
    CHECK(classify_manifest_entry(R"({"n":"vm-2","s":{"na)", 400, name) == ManifestEntryKind::session);
    CHECK(name == "vm-2");
    // Not as luod writes it: the whole entry must be read.
    CHECK(!classify_manifest_entry(R"({"s":{},"n":"vm-3"})", 19, name));
    CHECK(!classify_manifest_entry(R"({"n":"vm\"4","s":{}})", 21, name));
    CHECK(!classify_manifest_entry(R"({"n":"vm-5)", 400, name));
    bool erases = true;
    CHECK(manifest_entry_session(R"({"s":{},"n":"vm-3"})", erases) == "vm-3");
    CHECK(!erases);
    CHECK(!manifest_entry_session(R"({"h":{}})", erases));
    std::string header = R"({"name":"vm","kind":"outgoing","state":"open","owner_uid":1000,"owner_unit":"","created_usec":1,"next_token":3,"files":[]})";
    ManifestSession s = replay_session({R"({"n":"vm","s":)" + header + "}",
                                        R"({"n":"vm","f":[{"label":"a","token":1,"type":"memfd"},{"label":"b","token":2,"type":"memfd"}]})",
                                        R"({"n":"vm","d":[1]})"});
    CHECK(s.owner_uid == 1000);
    REQUIRE(s.files.size() == 1);
    CHECK(s.files[0].label == "b");
    CHECK_THROWS_AS(replay_session({R"({"n":"vm","f":[]})"}), ManifestError);  // no header
    CHECK_THROWS_AS(replay_session({R"({"n":"other","s":)" + header + "}"}), ManifestError);  // another's header
}

TEST_CASE("a file's and a session header's JSON are written as a JSON document dumps them, whatever their strings hold",
          "[luod][unit][manifest]")
{
    const std::vector<std::string> texts{"",        "ram",      "vm-7",          R"(a"b)",         R"(c\d)",
                                         "tab\there", "new\nline", "\x01", "\x7f", "\u00e9t\u00e9",
                                         "/dev/vfio/7", "vmm@7.service", std::string(300, 'x')};
    for (const std::string& text : texts)
        for (std::uint64_t bytes : {std::uint64_t{0}, std::uint64_t{1} << 40})
            for (bool pending : {false, true}) {
                INFO("'" << text << "' bytes " << bytes << " pending " << pending);
                ManifestFile f{text, 7, text.empty() ? "memfd" : text, pending, text, bytes};
                nlohmann::json jf{{"label", f.label}, {"token", f.token}, {"type", f.type}};
                if (pending)
                    jf["pending"] = true;
                if (!f.device.empty())
                    jf["device"] = f.device;
                if (bytes != 0)
                    jf["bytes"] = bytes;
                CHECK(encode_file(f) == jf.dump());
                ManifestSession s;
                s.name = text;
                s.kind = text;
                s.state = "open";
                s.owner_uid = 4294967294u;
                s.owner_unit = text;
                s.created_usec = bytes;
                s.next_token = 8;
                s.pending = pending;
                s.fd_handed_out = !pending;
                nlohmann::json head{{"name", s.name},           {"kind", s.kind},
                                    {"state", s.state},         {"owner_uid", s.owner_uid},
                                    {"owner_unit", s.owner_unit}, {"created_usec", s.created_usec},
                                    {"next_token", s.next_token}};
                if (s.pending)
                    head["pending"] = true;
                if (s.fd_handed_out)
                    head["fd_handed_out"] = true;
                std::string file = jf.dump();
                std::string want = head.dump();
                want.pop_back();
                CHECK(assemble_session(s, {&file, &file}) == want + ",\"files\":[" + file + "," + file + "]}");
            }
}

TEST_CASE("a session's entries as luod writes them are replayed without a JSON document, to what parsing them "
          "gives, and any other entry (every one-byte change of them) as parsing it replays it or with its error",
          "[luod][unit][manifest]")
{
    ManifestSession head;
    head.name = "vm-7";
    head.kind = "outgoing";
    head.state = "open";
    head.owner_uid = 1000;
    head.owner_unit = "vmm@7.service";
    head.created_usec = 1700000000000000;
    head.next_token = 4;
    ManifestSession pending = head;
    pending.pending = true;
    ManifestFile ram{"ram", 1, "memfd", true, "", 1 << 20};
    ManifestFile dev{"gpu", 2, "vfio", false, "/dev/vfio/7", 0};
    ManifestFile log{"log \u00e9\"q\"", 3, "file", false, "", 5};
    auto entry = [](const std::string& body) { return R"({"n":"vm-7")" + body + "}"; };
    std::vector<std::string> entries{
        entry(",\"s\":" + assemble_session(pending, {})),
        entry(",\"s\":" + assemble_session(head, {})),
        entry(",\"f\":[" + encode_file(ram) + "," + encode_file(dev) + "]"),
        entry(",\"f\":[" + encode_file(ManifestFile{"ram", 1, "memfd", false, "", 1 << 20}) + "]"),
        entry(",\"d\":[2],\"f\":[" + encode_file(log) + "]"),
    };
    std::optional<ManifestSession> quick = replay_session_quickly(entries);
    REQUIRE(quick);
    CHECK(*quick == replay_session_parsed(entries));
    CHECK(quick->owner_unit == "vmm@7.service");
    REQUIRE(quick->files.size() == 2);
    CHECK(quick->files[0].bytes == 1u << 20);
    CHECK_FALSE(quick->files[0].pending);
    CHECK(quick->files[1].label == "log \u00e9\"q\"");
    // Erased and made again: only what follows the erasure.
    std::vector<std::string> again = entries;
    again.push_back(R"({"n":"vm-7","x":true})");
    again.push_back(entries[1]);
    REQUIRE(replay_session_quickly(again));
    CHECK(replay_session_quickly(again)->files.empty());
    CHECK(*replay_session_quickly(again) == replay_session_parsed(again));
    // Not as luod writes them: each read by parsing it, to the same session or the same refusal.
    for (const std::vector<std::string>& odd : std::vector<std::vector<std::string>>{
             {entries[1], R"({"n":"vm-7","f":[{"label":"a","token":1,"type":"memfd","label":"b"}]})"},
             {entries[1], R"({"n":"vm-7","n":"vm-7","d":[]})"},
             {entries[1], R"({"n":"vm-7","zz":1})"},
             {entries[1], R"({"n":"vm-7","f":[{"label":"a","token":9,"type":"memfd"}]})"},
             {entries[1], R"({"n":"vm-7","f":[{"label":"a","token":1,"type":"memfd"},{"label":"a","token":2,"type":"memfd"}]})"},
             {entries[1], R"({"n":"vm-7","f":[{"label":"a","token":1,"type":"memfd","bytes":-1}]})"},
             {entries[1], R"({"n":"vm-7","f":[{"label":"a","token":1.5,"type":"memfd"}]})"},
             {R"({"n":"vm-8","s":)" + assemble_session(head, {}) + "}"},
             {R"({"n":"vm-7","x":true,"s":)" + assemble_session(head, {}) + "}"},
             {R"({"n":"vm-7","s":)" + assemble_session(head, {&entries[0]}) + "}"},
         }) {
        INFO(odd.back());
        CHECK_FALSE(replay_session_quickly(odd));
    }
    // Every one-byte change of every entry (a deletion, or one of a few bytes in its place):
    // replay_session() gives what parsing gives, or refuses it as parsing does.
    auto outcome = [](const std::function<ManifestSession()>& replay) -> std::string {
        try {
            ManifestSession s = replay();
            return encode_session(s) + (s.pending ? "+pending" : "");
        } catch (const ManifestError& e) {
            return std::string("error: ") + e.what();
        }
    };
    std::size_t changes = 0, quick_ones = 0, differing = 0;
    std::string first_difference;
    for (std::size_t i = 0; i < entries.size(); ++i)
        for (std::size_t at = 0; at < entries[i].size(); ++at)
            for (const char* with : {"", "\"", "1", ",", "}", "]", "x", "-", "\\", "\xff"}) {
                std::vector<std::string> changed = entries;
                changed[i] = entries[i].substr(0, at) + with + entries[i].substr(at + 1);
                ++changes;
                quick_ones += replay_session_quickly(changed) ? 1 : 0;
                std::string got = outcome([&] { return replay_session(changed); });
                std::string want = outcome([&] { return replay_session_parsed(changed); });
                if (got != want && differing++ == 0)
                    first_difference = changed[i] + "\n  replay_session: " + got + "\n  parsed: " + want;
            }
    INFO(first_difference);
    CHECK(differing == 0);
    CHECK(changes > 3000);
    CHECK(quick_ones > 0);  // some changes are still as luod writes (another owner, say)
}

TEST_CASE("the last report is an entry of its own, and an older luod's inside the state entry is still read",
          "[luod][unit][manifest][report]")
{
    std::string name;
    std::string_view report = R"({"r":{"result":"success","sessions":3}})";
    CHECK(classify_manifest_entry(report, report.size(), name) == ManifestEntryKind::report);
    bool erases = true;
    CHECK(!manifest_entry_session(report, erases));
    // As luod writes it now: the report's entry, and state entries that name it.
    std::string state = R"({"h":{"written_usec":5,"live_update_count":1,"update":{},"report_at":{"offset":0,"seq":1}}})";
    Manifest now = replay_manifest_log({std::string(report), state}, 1);
    CHECK(now.last_update == nlohmann::json{{"result", "success"}, {"sessions", 3}});
    // The latest report wins, whichever form it has.
    Manifest later = replay_manifest_log({std::string(report), state, R"({"r":{"result":"failed"}})", state}, 1);
    CHECK(later.last_update == nlohmann::json{{"result", "failed"}});
    // An older luod's log (before issue 12): the report inside each state entry.
    Manifest older =
        replay_manifest_log({R"({"h":{"written_usec":5,"update":{},"last_update":{"result":"dry-run"}}})"}, 1);
    CHECK(older.last_update == nlohmann::json{{"result", "dry-run"}});
    // Sorted without replaying: the last report and the last state entry apart.
    ManifestScan scan = scan_manifest_log({std::string(report), state, R"({"r":{"result":"failed"}})", state});
    CHECK(scan.report == R"({"r":{"result":"failed"}})");
    CHECK(scan.state == state);
    CHECK(scan.sessions.empty());
}

TEST_CASE("the manifest log replays into the manifest it describes", "[luod][unit][manifest]")
{
    std::string header = R"({"name":"vm","kind":"outgoing","state":"open","owner_uid":1000,"owner_unit":"","created_usec":1,"next_token":3,"files":[]})";
    std::vector<std::string> entries{
        R"({"h":{"written_usec":5,"boot_id":"b","live_update_count":2,"update":{},"last_update":{}}})",
        R"({"n":"vm","s":)" + header + "}",
        R"({"n":"vm","f":[{"label":"a","token":1,"type":"memfd","bytes":4096},{"label":"b","token":2,"type":"memfd"}]})",
        R"({"n":"vm","d":[1]})",
        R"({"n":"gone","s":)" + std::string(R"({"name":"gone","kind":"outgoing","state":"open","owner_uid":0,"owner_unit":"","created_usec":1,"next_token":1,"files":[]})") + "}",
        R"({"n":"gone","x":true})",
    };
    Manifest m = replay_manifest_log(entries, 4);
    CHECK(m.generation == 4);
    CHECK(m.live_update_count == 2);
    CHECK(m.boot_id == "b");
    REQUIRE(m.sessions.size() == 1);
    CHECK(m.sessions[0].name == "vm");
    REQUIRE(m.sessions[0].files.size() == 1);
    CHECK(m.sessions[0].files[0].label == "b");
    entries.push_back(R"({"n":"vm","f":[{"label":"c","token":9,"type":"memfd"}]})");  // token past next_token
    CHECK_THROWS_AS(replay_manifest_log(entries, 4), ManifestError);
    CHECK_THROWS_AS(replay_manifest_log({R"({"n":"x","f":[]})"}, 1), ManifestError);  // files, no header
    CHECK_THROWS_AS(replay_manifest_log({"[1]"}, 1), ManifestError);
    CHECK(decode_manifest_index(R"({"format":"luod-manifest-index","version":2,"epoch":3,"segment_size":4096,)"
                                R"("active":[1,2],"spare":[3],"next_token":4})") ==
          ManifestIndex{3, 4096, {1, 2}, {3}, 4, std::nullopt});
    CHECK_THROWS_AS(decode_manifest_index(R"({"format":"luod-manifest-index","version":2,"epoch":3,)"
                                          R"("segment_size":4096,"active":[1,1],"spare":[],"next_token":4})"),
                    ManifestError);
    // Where the last state entry is: optional (an older luod's index has none).
    ManifestIndex with_state{3, 4096, {1}, {}, 2, ManifestIndex::EntryAt{4000, 17}};
    CHECK(decode_manifest_index(R"({"format":"luod-manifest-index","version":2,"epoch":3,"segment_size":4096,)"
                                R"("active":[1],"spare":[],"next_token":2,"last_state":{"offset":4000,"seq":17}})") ==
          with_state);
    for (const char* bad : {R"("last_state":[4000,17])", R"("last_state":{"offset":4000,"seq":0})",
                            R"("last_state":{"offset":-1,"seq":1})", R"("last_state":{"seq":1})"})
        CHECK_THROWS_AS(decode_manifest_index(R"({"format":"luod-manifest-index","version":2,"epoch":3,)"
                                              R"("segment_size":4096,"active":[1],"spare":[],"next_token":2,)" +
                                              std::string(bad) + "}"),
                        ManifestError);
}

TEST_CASE("fd store names encode any session name", "[luod][unit]")
{
    CHECK(FdStore::session_name(luo::SessionKind::outgoing, "vm:1") == "luo-s-766d3a31");
    CHECK(FdStore::session_name(luo::SessionKind::incoming, "a") == "luo-i-61");
    // Any name: every byte (':', control characters, UTF-8) becomes two hex digits, so FDNAME
    // gets only [a-z0-9-], different names stay different, and the longest name still fits
    // FDNAME's 255 bytes (a session name has at most 63).
    std::string every_byte;  // 1..255, in five names of 51 bytes
    for (int c = 1; c < 256; ++c)
        every_byte += static_cast<char>(c);
    for (std::size_t at = 0; at < every_byte.size(); at += 51) {
        std::string_view name = std::string_view(every_byte).substr(at, 51);
        std::string encoded = FdStore::session_name(luo::SessionKind::outgoing, name);
        CHECK(encoded.size() == 6 + 2 * name.size());
        CHECK(encoded.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos);
    }
    CHECK(FdStore::session_name(luo::SessionKind::outgoing, std::string(63, '\xff')).size() <= 255);
    CHECK(FdStore::session_name(luo::SessionKind::outgoing, "ab") != FdStore::session_name(luo::SessionKind::outgoing, "ba"));
    CHECK(FdStore::session_name(luo::SessionKind::outgoing, "x") != FdStore::session_name(luo::SessionKind::incoming, "x"));
}

TEST_CASE("luoctl load --reuse-cmdline drops BOOT_IMAGE= as kexec-tools does, keeps the rest in order", "[luod][unit][load]")
{
    CHECK(reusable_cmdline("BOOT_IMAGE=/vmlinuz-7.2 root=/dev/sda1 ro quiet") == "root=/dev/sda1 ro quiet");
    CHECK(reusable_cmdline("root=/dev/sda1 BOOT_IMAGE=(hd0,gpt2)/vmlinuz ro") == "root=/dev/sda1 ro");
    // Only the key itself: a parameter that merely contains it stays.
    CHECK(reusable_cmdline("my.BOOT_IMAGE=x BOOT_IMAGEX=y") == "my.BOOT_IMAGE=x BOOT_IMAGEX=y");
    // crashkernel= is dropped by kexec-tools only for a crash kernel: kept here.
    CHECK(reusable_cmdline("crashkernel=256M kho=on") == "crashkernel=256M kho=on");
    // A quoted value is one parameter, spaces and all.
    CHECK(reusable_cmdline("BOOT_IMAGE=\"/boot/my kernel\" init=\"/sbin/my init\"  quiet") ==
          "init=\"/sbin/my init\" quiet");
    CHECK(reusable_cmdline("").empty());
    CHECK(reusable_cmdline("BOOT_IMAGE=/vmlinuz").empty());
}

TEST_CASE("the usage ledger counts each uid's sessions, files and bytes as records come and go",
          "[luod][unit][quota]")
{
    auto record = [](std::string name, uid_t uid, luo::SessionKind kind, SessionState state,
                     std::vector<std::uint64_t> sizes) {
        SessionRecord r;
        r.name = std::move(name);
        r.owner.uid = uid;
        r.kind = kind;
        r.state = state;
        for (std::size_t i = 0; i < sizes.size(); ++i)
            r.files.push_back(FileRecord{"f" + std::to_string(i), i + 1, FileType::memfd, false, "", 7,
                                         static_cast<ino_t>(1000 * r.name[0] + i + 1), sizes[i], {}});
        return r;
    };
    UsageLedger ledger;
    SessionRecord a = record("a", 1000, luo::SessionKind::outgoing, SessionState::open, {10, 20});
    SessionRecord b = record("b", 1000, luo::SessionKind::incoming, SessionState::retrieved, {5});
    SessionRecord c = record("c", 1001, luo::SessionKind::incoming, SessionState::closed, {});
    SessionRecord root = record("r", 0, luo::SessionKind::outgoing, SessionState::open, {1});
    for (const SessionRecord* r : {&a, &b, &c, &root})
        ledger.add(*r);
    // Incoming sessions count their files, and as a session only once closed (AcquireFd kept them).
    CHECK(ledger.of(1000).sessions == 1);
    CHECK(ledger.of(1000).files == 3);
    CHECK(ledger.of(1000).bytes == 35);
    CHECK(ledger.of(1001).sessions == 1);
    CHECK(ledger.of(4242).sessions == 0);
    CHECK(ledger.names_of(1000) == std::set<std::string>{"a", "b"});
    CHECK(ledger.outgoing() == 2);
    CHECK(ledger.incoming() == 1);
    CHECK(ledger.files() == 4);
    CHECK(ledger.outgoing_files() == 3);  // a's and root's: what the next kernel is handed
    CHECK(ledger.closed() == std::set<std::string>{"c"});
    REQUIRE(ledger.holder_of(7, 1000 * 'a' + 2) != nullptr);
    CHECK(*ledger.holder_of(7, 1000 * 'a' + 2) == "a");
    CHECK(ledger.holder_of(7, 1000 * 'b' + 1) == nullptr);  // b's file: incoming, not one to refuse twice
    {
        // A change between remove and add: a file more, then the session closed.
        LedgerChange change(ledger, a);
        a.files.push_back(FileRecord{"g", 9, FileType::memfd, true, "", 7, 555, 1000, {}});
        a.state = SessionState::closed;
    }
    CHECK(ledger.of(1000).files == 4);
    CHECK(ledger.outgoing_files() == 4);
    CHECK(ledger.of(1000).bytes == 1035);
    CHECK(ledger.closed() == std::set<std::string>{"a", "c"});
    CHECK(*ledger.holder_of(7, 555) == "a");
    for (const SessionRecord* r : {&a, &b, &c, &root})
        ledger.remove(*r);
    CHECK(ledger.of(1000).sessions == 0);
    CHECK(ledger.of(1000).files == 0);
    CHECK(ledger.of(1000).bytes == 0);
    CHECK(ledger.names_of(1000).empty());
    CHECK(ledger.outgoing() == 0);
    CHECK(ledger.incoming() == 0);
    CHECK(ledger.files() == 0);
    CHECK(ledger.outgoing_files() == 0);
    CHECK(ledger.closed().empty());
    CHECK(ledger.holder_of(7, 555) == nullptr);
}
