// SPDX-License-Identifier: Apache-2.0
// A hostile local user (uid 65534, and other unprivileged uids beside it) against luod, one
// test per class of weakness found (issue 9): whatever such users do within every limit
// luod sets, root keeps its sessions and can still create, preserve and update; no call
// blocks luod or grows without bound; nobody reaches or learns of another owner's session.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include "luo_catch.h"
#include <fstream>
#include <linux/fuse.h>
#include <mutex>
#include <nlohmann/json.hpp>
#include "luo-dbus/sdbus_compat.h"
#include <thread>

#include "eventually.h"
#include "fd_reaper.h"
#include "fixture.h"
#include "luo/client.h"
#include "luo/dbus_api.h"
#include "luo/device.h"
#include "stalling_fuse.h"

using namespace luo;
using namespace luo::test;
namespace err = luo::dbus::error;
using nlohmann::json;
using Options = std::map<std::string, sdbus::Variant>;

namespace {

std::string label_of(std::size_t i)
{
    // The longest label luod takes: the most manifest space a file can cost.
    std::string n = std::to_string(i);
    return std::string(255 - n.size(), 'L') + n;
}

// Fills `uid`'s quotas with maximal records: sessions until refused, then files (labels of
// 255 bytes) into them until refused. Returns the number of files preserved (or -1).
int fill_quotas(Luod& t, uid_t uid, const std::string& prefix)
{
    return run_as_uid(uid, [&] {
        LuodClient c(t.bus.address());
        std::vector<std::string> sessions;
        for (int i = 0;; ++i) {
            std::string name = prefix + std::to_string(i);
            if (!dbus_error_of([&] { c.create_session(name); }).empty())
                break;
            sessions.push_back(name);
        }
        if (sessions.empty())
            return 2;
        std::size_t files = 0;
        for (const auto& name : sessions) {
            for (;;) {
                std::vector<UniqueFd> memfds;
                std::vector<std::pair<int, std::string>> batch;
                for (int k = 0; k < 16; ++k) {
                    memfds.push_back(make_memfd("f"));
                    batch.emplace_back(memfds.back().get(), label_of(files + static_cast<std::size_t>(k)));
                }
                std::string e = dbus_error_of([&] { c.preserve(name, batch); });
                if (!e.empty()) {
                    if (e != err::kQuotaExceeded && e != err::kLimitsExceeded) {
                        std::fprintf(stderr, "uid %u: preserve refused with %s\n", uid, e.c_str());
                        return 3;
                    }
                    break;
                }
                files += batch.size();
            }
        }
        return 0;
    });
}

void update(LuodClient& c, Options options = {})
{
    c.manager().callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(options);
}

json last_update(Luod& t) { return json::parse(t.client.last_update()); }

UniqueFd inhibit(LuodClient& c, const std::string& who, const std::string& why, const std::string& mode = "delay")
{
    sdbus::UnixFd fd;
    c.manager()
        .callMethod("Inhibit")
        .onInterface(dbus::kManagerInterface)
        .withArguments(std::string("update"), who, why, mode)
        .storeResultsTo(fd);
    return UniqueFd(fd.release());
}

// A process running `body` as `uid` that the test can kill (run_as_uid's own child, which
// runs the body, dies with it).
pid_t spawn_as(uid_t uid, std::function<int()> body)
{
    return spawn([uid, body = std::move(body)] { return run_as_uid(uid, body); });
}

// Root's own work, which no other uid may stop while root is within its limits.
std::string root_can_work(Luod& t, const std::string& name)
{
    std::string r;
    r += expect("root CreateSession " + name, dbus_error_of([&] { t.client.create_session(name); }), "");
    UniqueFd m = make_memfd("root", "root's data " + name);
    r += expect("root PreserveFd", dbus_error_of([&] { t.client.preserve(name, m.get(), "data"); }), "");
    return r;
}

}  // namespace

// Finding 1: one user filled luod's fixed manifest; then root was refused, an update wedged
// in "rebooting", and the next kernel's luod lost root's sessions.
TEST_CASE("users filling every quota with the largest records never fill luod's manifest: root creates, preserves and "
          "updates, and the update carries everything",
          "[luod][hostile][manifest]")
{
    LuodOptions o;
    // Small manifest segments, so that what two users may hold is far more than one segment.
    o.config = "[Sessions]\nMaxSessionsPerUser=8\nMaxFilesPerUser=2048\n[Daemon]\nManifestSizeMiB=1\n"
               "[Update]\nUnclaimedTimeoutSec=0\n";
    Luod t(o, machine());
    REQUIRE(root_can_work(t, "vm-root").empty());
    std::vector<uid_t> users = unprivileged_uids(2);
    for (uid_t uid : users) {
        INFO("uid " << uid);
        CHECK(fill_quotas(t, uid, "u" + std::to_string(uid) + "-") == 0);
    }
    CHECK(root_can_work(t, "vm-root-2").empty());
    t.client.load_kernel(t.kernel_image());
    CHECK(dbus_error_of([&] { update(t.client, {{"DryRun", sdbus::Variant(true)}}); }) == "");
    REQUIRE(eventually([&] { return last_update(t).value("result", "") == "dry-run"; }));

    // During an update's barrier (root holds it) the users try again; then the update runs.
    UniqueFd hold = inhibit(t.client, "root", "barrier");
    update(t.client);
    CHECK(t.client.manager_string("State") == "preparing");
    // Their quotas are full: each closes a session and fills its quotas again.
    for (uid_t uid : users) {
        INFO("uid " << uid);
        CHECK(check_as(uid, [&] {
                  LuodClient c(t.bus.address());
                  return dbus_error_of([&] { c.close("u" + std::to_string(uid) + "-0"); });
              }) == 0);
        CHECK(fill_quotas(t, uid, "b" + std::to_string(uid) + "-") == 0);
    }
    CHECK(root_can_work(t, "vm-root-3").empty());
    std::string boot = t.model.boot_id();
    hold.reset();
    t.next_boot(boot);
    CHECK(t.client.manager_string("State") == "updated");
    for (const char* name : {"vm-root", "vm-root-2", "vm-root-3"}) {
        INFO(name);
        CHECK(t.client.session_property_string(name, "Kind") == "incoming");
        t.client.manager().callMethod("RetrieveSession").onInterface(dbus::kManagerInterface).withArguments(std::string(name));
        UniqueFd data = t.client.retrieve_fd(name, "data");
        CHECK(read_all(data.get()) == std::string("root's data ") + name);
    }
    // The users' sessions came across with every file.
    for (uid_t uid : users) {
        INFO("uid " << uid);
        CHECK(check_as(uid, [&] {
                  LuodClient c(t.bus.address());
                  std::size_t files = 0;
                  for (const auto& name : c.list_session_names())
                      files += c.files(name).size();
                  return files >= 2048 ? std::string() : "only " + std::to_string(files) + " files came across";
              }) == 0);
    }
}

// Finding 2: error texts echoed the caller's string, escaped 4x: one call made a reply over
// the bus's limit and the bus dropped luod.
TEST_CASE("strings of any size in any argument get a short error, and luod keeps serving", "[luod][hostile][bounded]")
{
    Luod t({}, machine());
    const std::string huge(9u << 20, '\x01');
    const std::size_t most = 1024;  // the longest error message we accept
    auto short_error = [&](const std::string& what, const DbusFailure& f) -> std::string {
        if (f.name.empty())
            return what + ": accepted; ";
        if (f.message.size() > most)
            return what + ": a " + std::to_string(f.message.size()) + "-byte message; ";
        return "";
    };
    int status = check_as(nobody_uid(), [&] {
        LuodClient c(t.bus.address());
        auto& m = c.manager();
        auto call = [&](const char* member, auto... args) {
            return dbus_failure_of([&] { m.callMethod(member).onInterface(dbus::kManagerInterface).withArguments(args...); });
        };
        std::string r;
        r += short_error("GetSession", call("GetSession", huge));
        r += short_error("RetrieveSession", call("RetrieveSession", huge));
        r += short_error("CreateSession name", call("CreateSession", huge, Options{}));
        r += short_error("CreateSession option key", call("CreateSession", std::string("ok"), Options{{huge, sdbus::Variant(true)}}));
        r += short_error("CreateSession OwnerUnit", call("CreateSession", std::string("ok"),
                                                         Options{{"OwnerUnit", sdbus::Variant(huge)}}));
        r += short_error("Inhibit what", call("Inhibit", huge, std::string("w"), std::string("w"), std::string("delay")));
        r += short_error("Inhibit who", call("Inhibit", std::string("update"), huge, std::string("w"), std::string("delay")));
        r += short_error("Inhibit mode", call("Inhibit", std::string("update"), std::string("w"), std::string("w"), huge));
        c.create_session("mine");
        auto s = luo::sdbus_compat::create_proxy(c.connection(), dbus::kBusName, c.get_session("mine"));
        UniqueFd memfd = make_memfd("m");
        r += short_error("PreserveFd label", dbus_failure_of([&] {
                             s->callMethod("PreserveFd").onInterface(dbus::kSessionInterface)
                                 .withArguments(sdbus::UnixFd(memfd.get()), huge);
                         }));
        r += short_error("RetrieveFd label", dbus_failure_of([&] {
                             s->callMethod("RetrieveFd").onInterface(dbus::kSessionInterface).withArguments(huge);
                         }));
        // Properties calls for names no object has are answered by sd-bus itself, quoting the
        // names; sid's libsystemd escapes them 4x. With sdbus-c++ 2 luod refuses names that are
        // not D-Bus names first (a short error); 1.2 offers no filter, and there (libsystemd
        // 252) the quote is as long as the name: never over the bus's limit.
        auto property_call = [&](const char* what, const char* member, auto... args) {
            DbusFailure f = dbus_failure_of([&] {
                m.callMethod(member).onInterface("org.freedesktop.DBus.Properties").withArguments(args...);
            });
#if LUO_SDBUS_MAJOR >= 2
            return short_error(what, f);
#else
            return f.name.empty() ? std::string(what) + ": accepted; "
                 : f.message.size() > huge.size() + most ? std::string(what) + ": a " + std::to_string(f.message.size()) + "-byte message; "
                                                          : std::string();
#endif
        };
        std::string manager_interface = dbus::kManagerInterface;
        r += property_call("Get interface", "Get", huge, std::string("Sessions"));
        r += property_call("Get property", "Get", manager_interface, huge);
        r += property_call("GetAll interface", "GetAll", huge);
        r += property_call("Set property", "Set", manager_interface, huge, sdbus::Variant(true));
        r += expect("still serving", dbus_error_of([&] { c.list_session_names(); }), "");
        return r;
    });
    CHECK(status == 0);
    INFO("luod's log ends: " << t.luod.log().substr(t.luod.log().size() > 3000 ? t.luod.log().size() - 3000 : 0));
    REQUIRE(t.luod.alive());
    // Root's arguments are bounded the same way.
    auto& m = t.client.manager();
    CHECK(short_error("LoadKernel", dbus_failure_of([&] {
              m.callMethod("LoadKernel").onInterface(dbus::kManagerInterface)
                  .withArguments(huge, std::string(), std::string(), Options{});
          })) == "");
    CHECK(short_error("LoadKernel cmdline", dbus_failure_of([&] {
              m.callMethod("LoadKernel").onInterface(dbus::kManagerInterface)
                  .withArguments(t.kernel_image(), std::string(), huge, Options{});
          })) == "");
    CHECK(short_error("Update Strategy", dbus_failure_of([&] {
              m.callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(Options{{"Strategy", sdbus::Variant(huge)}});
          })) == "");
    CHECK(t.luod.alive());
    CHECK(t.luod.log().find("lost the bus connection") == std::string::npos);
    CHECK(dbus_error_of([&] { t.client.create_session("after"); }) == "");
}

// Finding 3: a refused preserve read its label after the roll-back had freed it.
TEST_CASE("a preserve the kernel refuses gets its error, naming the file, whatever its label's length",
          "[luod][hostile][preserve]")
{
    Luod t;
    // The memfd is preserved behind luod's back (root's own session fd), so the kernel
    // refuses it when luod passes it (EBUSY), after luod's own checks passed.
    t.client.create_session("direct");
    Session direct(t.client.acquire_fd("direct"), SessionKind::outgoing);
    UniqueFd taken = make_memfd("taken", "x");
    direct.preserve_fd(taken.get(), 7);
    t.client.create_session("victim");
    const std::string label(64, 'a');
    DbusFailure one = dbus_failure_of([&] { t.client.preserve("victim", taken.get(), label); });
    CHECK(one.name == err::kFileAlreadyPreserved);
    CHECK(one.message.find(label) != std::string::npos);
    UniqueFd fresh = make_memfd("fresh", "y");
    DbusFailure midway =
        dbus_failure_of([&] { t.client.preserve("victim", {{fresh.get(), "fresh-" + label}, {taken.get(), label}}); });
    CHECK(midway.name == err::kFileAlreadyPreserved);
    CHECK(midway.message.find(label) != std::string::npos);
    CHECK(midway.message.find("were preserved") != std::string::npos);
    CHECK(t.client.files("victim").size() == 1);
    CHECK(t.luod.alive());
}

// Finding 4: luod stat'ed client fds on its only thread; a FUSE server that stops answering
// froze it for every caller. A hostile server answers dbus-daemon (which relays the fd) and
// stalls luod alone.
TEST_CASE("a client whose file system stops answering delays only itself", "[luod][hostile][fuse]")
{
    Luod t;
    std::size_t fds_before = t.settled_fd_count();
    bool allow_other = GENERATE(true, false);
    INFO("allow_other " << allow_other);
    StallingFuse fs(nobody_uid(), allow_other);
    t.client.create_session("roots");
    // nobody passes a file of its FUSE mount, alone and inside a batch of memfds.
    ReadySignal sent;
    pid_t client = spawn([&] {
        return run_as_nobody([&] {
        UniqueFd file(::open(fs.file().c_str(), O_RDWR | O_CLOEXEC));
        if (!file)
            return 91;
        LuodClient c(t.bus.address());
        c.create_session("stalled");
        sent.notify();
        std::string single = dbus_error_of([&] { c.preserve("stalled", file.get(), "fuse"); });
        UniqueFd a = make_memfd("a"), b = make_memfd("b");
        std::string batch = dbus_error_of([&] { c.preserve("stalled", {{a.get(), "a"}, {file.get(), "fuse"}, {b.get(), "b"}}); });
        // The fd in a call that takes none: sd-bus refuses the call and frees it with its fds.
        std::string stray = dbus_error_of([&] {
            c.manager().callMethod("ListSessions").onInterface(dbus::kManagerInterface).withArguments(sdbus::UnixFd(file.get()));
        });
        return single == err::kUnsupportedFile && batch == err::kUnsupportedFile && !stray.empty() ? 0 : 92;
        });
    });
    REQUIRE(sent.wait());
    fs.stall(t.luod.pid());
    // While luod's requests to the file system go unanswered, root is served.
    for (int i = 0; i < 20; ++i) {
        std::string name = "during-" + std::to_string(i);
        CHECK(root_can_work(t, name).empty());
        CHECK(t.client.list_session_names().size() >= 2);
    }
    CHECK(wait_exit(client) == 0);
    fs.resume();
    // The stalled fds were closed once the file system answered: nothing leaked.
    CHECK(eventually([&] { return t.settled_fd_count() <= fds_before + 2 * 21; }));
}

// The close guard keeps luod's thread from waiting on closes of others' file systems; closes
// of the kinds of fds luod itself opens and receives all the time are done at once, on its
// thread. pidfds among them: from Linux 6.9 they live on pidfs, in no mount table, and every
// caller's credentials carry one from dbus-daemon 1.15.8 (Debian 13) on. Sent to a worker,
// each new caller left luod's fd count settling later than its answer (the fd checks failed
// under load on Debian 13 and sid).
TEST_CASE("luod's close guard closes pidfds, eventfds, sockets and memfds at once on its thread, none by a worker",
          "[luod][hostile][close-guard]")
{
    luod::FdReaper reaper;
    luod::close_guard::install(reaper);
    struct Kind {
        const char* name;
        int fd;
    };
    for (Kind k : {Kind{"pidfd", static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0))},
                   Kind{"eventfd", ::eventfd(0, EFD_CLOEXEC)},
                   Kind{"socket", ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)},
                   Kind{"memfd", ::memfd_create("close-guard", MFD_CLOEXEC)}}) {
        INFO(k.name);
        REQUIRE(k.fd >= 0);
        CHECK(luod::close_guard::close(k.fd) == 0);
        // Closed now (no thread of this process opens fds meanwhile), and nothing was queued.
        CHECK(::fcntl(k.fd, F_GETFD) == -1);
        CHECK(errno == EBADF);
        CHECK(reaper.unfinished() == 0);
    }
    luod::close_guard::uninstall();
}

// Finding 5: any user's delay inhibitor vetoed every update; re-taking short ones starved them.
TEST_CASE("only root and owners of carried sessions delay an update, each once and for a bounded time, and Force "
          "overrides them",
          "[luod][hostile][inhibit]")
{
    LuodOptions o;
    o.config = "[Update]\nDelayTimeoutSec=3600\n";
    Luod t(o, machine());
    t.client.load_kernel(t.kernel_image());
    auto dry_run = [&](Options extra = {}) {
        extra["DryRun"] = sdbus::Variant(true);
        std::uint64_t before = last_update(t).value("phases", json::object()).value("update_requested", std::uint64_t{0});
        update(t.client, extra);
        return eventually([&] {
            json r = last_update(t);
            return r.value("phases", json::object()).value("update_requested", std::uint64_t{0}) != before &&
                   t.client.manager_string("State") == "loaded";
        });
    };

    SECTION("a user owning no session cannot delay at all")
    {
        ReadySignal held;
        pid_t holder = spawn_as(nobody_uid(), [&]() -> int {
            LuodClient c(t.bus.address());
            UniqueFd lock = inhibit(c, "nobody", "never letting go");
            held.notify();
            sleep_forever();
        });
        REQUIRE(held.wait());
        REQUIRE(dry_run());
        CHECK(last_update(t)["result"] == "dry-run");
        ::kill(holder, SIGKILL);
        wait_exit(holder);
    }

    SECTION("an owner of a carried session delays up to the timeout; Force proceeds after it, naming the holder")
    {
        REQUIRE(t.nobody_preserves("nobodys", "m", "data"));
        ReadySignal held;
        pid_t holder = spawn_as(nobody_uid(), [&]() -> int {
            LuodClient c(t.bus.address());
            UniqueFd lock = inhibit(c, "nobody-vmm", "never letting go");
            held.notify();
            sleep_forever();
        });
        REQUIRE(held.wait());
        REQUIRE(dry_run({{"DelayTimeoutUSec", sdbus::Variant(std::uint64_t{200000})}}));
        CHECK(last_update(t)["result"] == "failed");
        REQUIRE(dry_run({{"DelayTimeoutUSec", sdbus::Variant(std::uint64_t{200000})}, {"Force", sdbus::Variant(true)}}));
        CHECK(last_update(t)["result"] == "dry-run");
        CHECK(t.luod.log().find("still held by nobody-vmm (never letting go) of uid " + std::to_string(nobody_uid())) !=
              std::string::npos);
        ::kill(holder, SIGKILL);
        wait_exit(holder);
    }

    SECTION("an owner re-taking short inhibitors delays each update once only")
    {
        REQUIRE(t.nobody_preserves("churner", "m", "data"));
        std::atomic<bool> stop{false};
        pid_t churner = spawn_as(nobody_uid(), [&]() -> int {
            LuodClient c(t.bus.address());
            for (;;) {
                UniqueFd lock;
                (void)dbus_error_of([&] { lock = inhibit(c, "churner", "again"); });
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            return 0;
        });
        for (int i = 0; i < 5; ++i) {
            INFO("update " << i);
            REQUIRE(dry_run());
            CHECK(last_update(t)["result"] == "dry-run");
        }
        stop = true;
        ::kill(churner, SIGKILL);
        wait_exit(churner);
    }
}

// Finding 6: AcquireFd then Close left kernel sessions luod no longer counted.
TEST_CASE("no user gets a kernel session luod does not count: outgoing session fds are root's, and an incoming one "
          "kept after Close still counts until its fd is closed",
          "[luod][hostile][quota]")
{
    LuodOptions o;
    o.config = "[Sessions]\nMaxSessionsPerUser=2\n[Update]\nUnclaimedTimeoutSec=0\n";
    Luod t(o, machine());
    int status = check_as(nobody_uid(), [&] {
        LuodClient c(t.bus.address());
        c.create_session("n1");
        UniqueFd m = make_memfd("m", "nobody's data");
        c.preserve("n1", m.get(), "m");
        return expect("AcquireFd of an outgoing session", dbus_error_of([&] { c.acquire_fd("n1"); }), err::kAccessDenied);
    });
    CHECK(status == 0);
    t.client.load_kernel(t.kernel_image());
    std::string boot = t.model.boot_id();
    update(t.client);
    t.next_boot(boot);
    // nobody claims its session, takes the kernel fd, and closes the session in luod.
    ReadySignal kept;
    int release[2];
    REQUIRE(::pipe2(release, O_CLOEXEC) == 0);
    UniqueFd release_read(release[0]), release_write(release[1]);
    pid_t keeper = spawn_as(nobody_uid(), [&]() -> int {
        LuodClient c(t.bus.address());
        c.manager().callMethod("RetrieveSession").onInterface(dbus::kManagerInterface).withArguments(std::string("n1"));
        UniqueFd session = c.acquire_fd("n1");
        c.close("n1");
        kept.notify();
        char byte;
        (void)!::read(release_read.get(), &byte, 1);  // until the test says so
        return 0;
    });
    release_read.reset();
    REQUIRE(kept.wait());
    // Its quota of 2 holds that session and one more.
    status = check_as(nobody_uid(), [&] {
        LuodClient c(t.bus.address());
        std::string r = expect("first", dbus_error_of([&] { c.create_session("n2"); }), "");
        return r + expect("second", dbus_error_of([&] { c.create_session("n3"); }), err::kQuotaExceeded);
    });
    CHECK(status == 0);
    CHECK(::write(release_write.get(), "x", 1) == 1);
    CHECK(wait_exit(keeper) == 0);
    // Once its copy is closed, the kernel session is gone and no longer counts.
    status = check_as(nobody_uid(), [&] {
        LuodClient c(t.bus.address());
        return expect("after the fd is closed", dbus_error_of([&] { c.create_session("n3"); }), "");
    });
    CHECK(status == 0);
}

TEST_CASE("root's session kept through AcquireFd after Close is still luod's: it crosses the update and is released "
          "when unclaimed",
          "[luod][hostile][quota]")
{
    LuodOptions o;
    o.config = "[Update]\nUnclaimedTimeoutSec=3600\n";  // 1 s once it has been looked at (below)
    Luod t(o, machine());
    t.client.create_session("orphan");
    UniqueFd big = make_memfd("big");
    REQUIRE(::ftruncate(big.get(), 16 << 20) == 0);
    t.client.preserve("orphan", big.get(), "ram");
    // A process in the machine holds the session fd after luod closed the session.
    ReadySignal held;
    pid_t holder = spawn([&]() -> int {
        LuodClient c(t.bus.address());
        UniqueFd fd = c.acquire_fd("orphan");
        c.close("orphan");
        held.notify();
        sleep_forever();
    });
    t.model.enter_machine(holder);
    REQUIRE(held.wait());
    CHECK(t.client.list_session_names() == std::vector<std::string>{"orphan"});
    t.client.load_kernel(t.kernel_image());
    std::string boot = t.model.boot_id();
    update(t.client);
    t.next_boot(boot);
    wait_exit(holder);
    CHECK(t.client.session_property_string("orphan", "Kind") == "incoming");
    // luod again with a limit of 1 s, long past since the restore: released at once.
    t.luod.stop();
    t.luod.options().config = "[Update]\nUnclaimedTimeoutSec=1\n";
    t.luod.start();
    REQUIRE(eventually([&] { return t.client.list_session_names().empty(); }));
    CHECK(t.luod.log().find("'orphan' was not claimed in time") != std::string::npos);
}

TEST_CASE("users together cannot take the kernel's last sessions: root keeps its reserve and Check tells the truth",
          "[luod][hostile][quota]")
{
    LuodOptions o;
    o.config = "[Sessions]\nMaxSessionsPerUser=1000\n";
    Luod t(o, ModelOptions("6.19"));  // 819 sessions in all
    std::vector<uid_t> users = unprivileged_uids(2);
    for (uid_t uid : users)
        fill_quotas(t, uid, "s" + std::to_string(uid) + "-");
    for (int i = 0; i < 16; ++i)
        CHECK(root_can_work(t, "root-" + std::to_string(i)).empty());
    std::vector<sdbus::Struct<std::string, std::string, std::string>> checks;
    t.client.manager().callMethod("Check").onInterface(dbus::kManagerInterface).storeResultsTo(checks);
    for (const auto& c : checks)
        if (std::get<0>(c) == "limits")
            CHECK(std::get<1>(c) == "pass");
}

// Finding 7: a read-only fd to root's memfd, preserved by another user, came back writable.
TEST_CASE("a preserved file is open for reading and writing, and is the caller's own", "[luod][hostile][access]")
{
    Luod t;
    UniqueFd roots = make_memfd("root-owned", "root's data");
    std::string proc_path = "/proc/self/fd/" + std::to_string(roots.get());
    UniqueFd read_only(::open(proc_path.c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd read_write(::open(proc_path.c_str(), O_RDWR | O_CLOEXEC));
    REQUIRE(read_only);
    REQUIRE(read_write);
    int status = check_as(nobody_uid(), [&] {
        LuodClient c(t.bus.address());
        c.create_session("thief");
        UniqueFd mine = make_memfd("mine", "x");
        UniqueFd path_only(::open(("/proc/self/fd/" + std::to_string(mine.get())).c_str(), O_PATH | O_CLOEXEC));
        UniqueFd mine_ro(::open(("/proc/self/fd/" + std::to_string(mine.get())).c_str(), O_RDONLY | O_CLOEXEC));
        std::string r;
        r += expect("O_PATH", dbus_error_of([&] { c.preserve("thief", path_only.get(), "path"); }), err::kInvalidArgs);
        r += expect("own read-only", dbus_error_of([&] { c.preserve("thief", mine_ro.get(), "ro"); }), err::kInvalidArgs);
        r += expect("root's read-only", dbus_error_of([&] { c.preserve("thief", read_only.get(), "root-ro"); }),
                    err::kInvalidArgs);
        r += expect("root's read-write", dbus_error_of([&] { c.preserve("thief", read_write.get(), "root-rw"); }),
                    err::kAccessDenied);
        r += expect("own read-write", dbus_error_of([&] { c.preserve("thief", mine.get(), "mine"); }), "");
        return r;
    });
    CHECK(status == 0);
    t.client.create_session("roots");
    CHECK(dbus_error_of([&] { t.client.preserve("roots", roots.get(), "data"); }) == "");
}

// Finding 8: nothing bounded the bytes a user had luod pin.
TEST_CASE("the bytes a user has luod preserve are bounded, sparse or not", "[luod][hostile][quota]")
{
    LuodOptions o;
    o.config = "[Sessions]\nMaxBytesPerUser=1M\n";
    Luod t(o);
    int status = check_as(nobody_uid(), [&] {
        LuodClient c(t.bus.address());
        c.create_session("bytes");
        UniqueFd sparse = make_memfd("sparse"), half = make_memfd("half"), more = make_memfd("more");
        if (::ftruncate(sparse.get(), off_t{1} << 40) < 0 || ::ftruncate(half.get(), 512 << 10) < 0 ||
            ::ftruncate(more.get(), 600 << 10) < 0)
            return std::string("ftruncate failed");
        // One after the other (the operands of + are evaluated in any order).
        std::string r = expect("1 TiB sparse", dbus_error_of([&] { c.preserve("bytes", sparse.get(), "sparse"); }),
                               err::kQuotaExceeded);
        r += expect("512 KiB", dbus_error_of([&] { c.preserve("bytes", half.get(), "half"); }), "");
        return r + expect("600 KiB more", dbus_error_of([&] { c.preserve("bytes", more.get(), "more"); }),
                          err::kQuotaExceeded);
    });
    CHECK(status == 0);
    t.client.create_session("roots");
    UniqueFd big = make_memfd("big");
    REQUIRE(::ftruncate(big.get(), 4 << 20) == 0);
    CHECK(dbus_error_of([&] { t.client.preserve("roots", big.get(), "big"); }) == "");
}

// Finding 9: names, owners, states and counts of other owners' sessions leaked.
TEST_CASE("a user learns nothing of other owners' sessions: not their names, labels, owners, states or number",
          "[luod][hostile][privacy]")
{
    Luod t({}, machine());
    const std::string secret = "secret-vm", secret_label = "disk-key";
    t.client.create_session(secret);
    UniqueFd m = make_memfd("m", "x");
    t.client.preserve(secret, m.get(), secret_label);
    std::string secret_path = t.client.get_session(secret);

    // Everything nobody receives while root creates, changes and closes sessions.
    ReadySignal listening;
    int listener_pipe[2];
    REQUIRE(::pipe2(listener_pipe, O_CLOEXEC) == 0);
    UniqueFd stop_read(listener_pipe[0]), stop_write(listener_pipe[1]);
    pid_t listener = spawn([&] {
        return run_as_nobody([&] {
            auto bus = sdbus::createSessionBusConnectionWithAddress(t.bus.address());
            std::string got;
            luo::sdbus_compat::add_match(*bus, "sender='org.luod.LiveUpdate1'", [&](sdbus::Message& msg) {
                got += std::string(msg.getPath()) + " " + msg.getMemberName() + ";";
                if (luo::sdbus_compat::peek_type(msg).first == "s") {
                    std::string s;
                    msg >> s;
                    got += s + ";";
                }
            });
            listening.notify();
            for (;;) {
                while (luo::sdbus_compat::process_pending(*bus)) {
                }
                pollfd both[2] = {{luo::sdbus_compat::poll_request(*bus).fd, POLLIN, 0}, {stop_read.get(), POLLIN, 0}};
                ::poll(both, 2, 100);
                if (both[1].revents)
                    break;
            }
            while (luo::sdbus_compat::process_pending(*bus)) {
            }
            return got.find(secret) == std::string::npos && got.find(secret_path) == std::string::npos &&
                           got.find("roots-later") == std::string::npos
                       ? 0
                       : (std::fprintf(stderr, "nobody saw: %s\n", got.c_str()), 1);
        });
    });
    REQUIRE(listening.wait());

    int status = check_as(nobody_uid(), [&] {
        LuodClient c(t.bus.address());
        std::string r;
        // Existing but not yours reads exactly like absent.
        DbusFailure theirs = dbus_failure_of([&] { c.get_session(secret); });
        DbusFailure absent = dbus_failure_of([&] { c.get_session("no-such-vm"); });
        r += expect("GetSession of another's", theirs.name, err::kNoSuchSession);
        r += expect("GetSession of none", absent.name, err::kNoSuchSession);
        DbusFailure retrieve = dbus_failure_of([&] {
            c.manager().callMethod("RetrieveSession").onInterface(dbus::kManagerInterface).withArguments(secret);
        });
        r += expect("RetrieveSession of another's", retrieve.name, err::kNoSuchSession);
        auto theirs_obj = luo::sdbus_compat::create_proxy(c.connection(), dbus::kBusName, secret_path);
        auto none_obj = luo::sdbus_compat::create_proxy(c.connection(), dbus::kBusName, "/org/luod/LiveUpdate1/session/no_2dsuch");
        for (const char* property : {"Name", "Kind", "State", "OwnerUID", "OwnerUnit", "Files", "FileCount"}) {
            DbusFailure a = dbus_failure_of([&] { theirs_obj->getProperty(property).onInterface(dbus::kSessionInterface); });
            DbusFailure b = dbus_failure_of([&] { none_obj->getProperty(property).onInterface(dbus::kSessionInterface); });
            r += expect(std::string(property) + " of another's", a.name, b.name);
            r += a.name.empty() ? std::string(property) + " readable; " : "";
        }
        DbusFailure close_theirs = dbus_failure_of([&] { theirs_obj->callMethod("Close").onInterface(dbus::kSessionInterface); });
        DbusFailure close_none = dbus_failure_of([&] { none_obj->callMethod("Close").onInterface(dbus::kSessionInterface); });
        r += expect("Close of another's", close_theirs.name, close_none.name);
        std::string xml;
        (void)dbus_error_of([&] {
            auto node = luo::sdbus_compat::create_proxy(c.connection(), dbus::kBusName, dbus::kSessionPathPrefix);
            node->callMethod("Introspect").onInterface("org.freedesktop.DBus.Introspectable").storeResultsTo(xml);
        });
        r += xml.find("secret") == std::string::npos ? "" : "Introspect lists the session; ";
        r += c.manager_u32("Sessions") == 0 ? "" : "Sessions counts others' sessions; ";
        std::vector<sdbus::Struct<std::string, std::string, std::string>> checks;
        c.manager().callMethod("Check").onInterface(dbus::kManagerInterface).storeResultsTo(checks);
        for (const auto& chk : checks) {
            const std::string& detail = std::get<2>(chk);
            if (detail.find(secret) != std::string::npos || detail.find(secret_label) != std::string::npos)
                r += "Check names root's session: " + detail + "; ";
            if (std::get<0>(chk) == "limits" && detail.find_first_of("0123456789") != std::string::npos)
                r += "Check counts others' sessions: " + detail + "; ";
        }
        return r;
    });
    CHECK(status == 0);
    // Root's activity meanwhile: nothing of it reaches nobody.
    t.client.create_session("roots-later");
    t.client.close("roots-later");
    t.client.close(secret);
    (void)!::write(stop_write.get(), "x", 1);
    CHECK(wait_exit(listener) == 0);
}

// Finding 6, a name taken first: names are global in the kernel, so a user could create
// "vm-prod" before root's VMM; NamePrefixesReservedForRoot keeps such names root's.
TEST_CASE("names with a prefix reserved for root are root's to take, and root may still give one to a user",
          "[luod][hostile][quota]")
{
    LuodOptions o;
    o.config = "[Sessions]\nNamePrefixesReservedForRoot=vm- db.\n";
    Luod t(o);
    int status = check_as(nobody_uid(), [&] {
        LuodClient c(t.bus.address());
        std::string r;
        for (const char* name : {"vm-prod", "vm-", "db.main"}) {
            DbusFailure f = dbus_failure_of([&] { c.create_session(name); });
            r += expect(std::string("CreateSession ") + name, f.name, err::kNameReserved);
            r += f.message.find("NamePrefixesReservedForRoot") != std::string::npos ? "" : "no word of the setting; ";
        }
        r += expect("CreateSession of another name", dbus_error_of([&] { c.create_session("my-vm-prod"); }), "");
        return r;
    });
    CHECK(status == 0);
    CHECK(t.client.list_session_names() == std::vector<std::string>{"my-vm-prod"});
    CHECK(dbus_error_of([&] { t.client.create_session("vm-prod"); }) == "");
    // Root creating one for a user decides so itself.
    auto& mgr = t.client.manager();
    sdbus::ObjectPath path;
    CHECK(dbus_error_of([&] {
              mgr.callMethod("CreateSession").onInterface(dbus::kManagerInterface)
                  .withArguments(std::string("vm-nobody"),
                                 std::map<std::string, sdbus::Variant>{{"OwnerUID", sdbus::Variant(nobody_uid())}})
                  .storeResultsTo(path);
          }) == "");
    CHECK(run_as_nobody([&] {
              LuodClient c(t.bus.address());
              UniqueFd m = make_memfd("m", "mine");
              return dbus_error_of([&] { c.preserve("vm-nobody", m.get(), "m"); }).empty() ? 0 : 1;
          }) == 0);
}

// Finding 9, the object tree: sd-bus lists every registered child of a node to whoever
// introspects it (sdbus-c++ 1.2 has no fallback vtable to filter per caller), so the one
// node that would list the sessions, the path prefix, is root's only (the D-Bus policy).
// Everything else a user can reach names only its own sessions: this test is the whole of
// what an unprivileged user learns from the tree.
TEST_CASE("an unprivileged user cannot list or count others' session objects", "[luod][hostile][privacy]")
{
    Luod t;
    for (const char* name : {"vm-a", "vm-b", "vm-c"})
        t.client.create_session(name);
    auto introspect = [](LuodClient& c, const std::string& path, std::string& xml) {
        return dbus_error_of([&] {
            auto node = luo::sdbus_compat::create_proxy(c.connection(), dbus::kBusName, path);
            node->callMethod("Introspect").onInterface("org.freedesktop.DBus.Introspectable").storeResultsTo(xml);
        });
    };
    auto children = [](const std::string& xml) {
        std::size_t n = 0;
        for (std::size_t at = xml.find("<node name=\""); at != std::string::npos; at = xml.find("<node name=\"", at + 1))
            ++n;
        return n;
    };
    int status = check_as(nobody_uid(), [&] {
        LuodClient c(t.bus.address());
        std::string r, xml;
        std::string own_path = c.create_session("mine");
        r += expect("Introspect of the sessions' node", introspect(c, dbus::kSessionPathPrefix, xml),
                    "org.freedesktop.DBus.Error.AccessDenied");
        r += xml.empty() ? "" : "the sessions' node answered: " + xml + "; ";
        // The manager's node names the sessions' node and nothing below it.
        xml.clear();
        r += expect("Introspect of the manager", introspect(c, dbus::kManagerPath, xml), "");
        r += children(xml) == 1 && xml.find("<node name=\"session\"") != std::string::npos
                 ? ""
                 : "the manager's node lists: " + xml + "; ";
        // Its own session's object is its to introspect; its path says nothing of the others.
        xml.clear();
        r += expect("Introspect of its own session", introspect(c, own_path, xml), "");
        r += xml.find(dbus::kSessionInterface) != std::string::npos ? "" : "its own session has no interface; ";
        r += own_path.find("mine") == std::string::npos ? "" : "the path carries the name: " + own_path + "; ";
        return r;
    });
    CHECK(status == 0);
    std::string xml;
    CHECK(introspect(t.client, dbus::kSessionPathPrefix, xml) == "");
    CHECK(children(xml) == 4);  // root sees them all
}

// Finding 10: 16 users filled the inhibitor table; who/why could forge log lines.
TEST_CASE("other users together cannot take root's inhibitor slots", "[luod][hostile][inhibit]")
{
    Luod t;
    std::vector<uid_t> users = unprivileged_uids(16);
    REQUIRE(users.size() == 16);
    std::vector<pid_t> holders;
    for (uid_t uid : users) {
        ReadySignal full;
        holders.push_back(spawn_as(uid, [&]() -> int {
            LuodClient c(t.bus.address());
            std::vector<UniqueFd> held;
            for (int i = 0; i < 10000; ++i) {
                UniqueFd fd;
                if (!dbus_error_of([&] { fd = inhibit(c, "u", "fill"); }).empty())
                    break;
                held.push_back(std::move(fd));
            }
            full.notify();
            sleep_forever();
        }));
        REQUIRE(full.wait());
    }
    std::vector<UniqueFd> roots;
    for (int i = 0; i < 16; ++i) {
        UniqueFd fd;
        CHECK(dbus_error_of([&] { fd = inhibit(t.client, "root", "mine"); }) == "");
        CHECK(dbus_error_of([&] { roots.push_back(inhibit(t.client, "root", "block", "block")); }) == "");
        roots.push_back(std::move(fd));
    }
    for (pid_t p : holders) {
        ::kill(p, SIGKILL);
        wait_exit(p);
    }
}

TEST_CASE("who and why of an inhibitor cannot forge log lines or carry terminal escapes", "[luod][hostile][inhibit]")
{
    Luod t;
    int status = check_as(nobody_uid(), [&] {
        LuodClient c(t.bus.address());
        std::string r;
        for (const char* forged : {"x\nluod: info: update done", "\x1b[2J\x1b[31mred", "tab\there", "cr\rhere"})
            for (bool as_who : {true, false})
                r += expect(std::string("Inhibit ") + (as_who ? "who" : "why"),
                            dbus_error_of([&] {
                                inhibit(c, as_who ? forged : "w", as_who ? "w" : forged);
                            }),
                            err::kInvalidArgs);
        return r;
    });
    CHECK(status == 0);
    CHECK(t.luod.log().find("\nluod: info: update done") == std::string::npos);
    CHECK(t.luod.log().find('\x1b') == std::string::npos);
}

// Finding 11 (information): what luod says after losing its store, after a kill mid-batch,
// at its fd limit, and when it restores.
TEST_CASE("luod restarted without an fd store says it lost its sessions", "[luod][hostile][info]")
{
    LuodOptions o;
    o.fd_store = false;
    Luod t(o);
    // Said at start: a crash leaves nobody to say it later.
    CHECK(t.luod.log().find("warning: no fd store") != std::string::npos);
    t.client.create_session("tenant-7-vm");
    t.luod.stop(SIGKILL);
    t.luod.start();
    CHECK(t.client.list_session_names().empty());
    std::string log = t.luod.log();
    INFO(log);
    CHECK(log.find("session 'tenant-7-vm' is lost") != std::string::npos);
    CHECK(log.find("and lost 1 sessions of this boot: tenant-7-vm") != std::string::npos);
}

// The kill comes from a fault point, which only test builds have (LUO_FAULT_INJECTION).
#if LUOD_FAULT_INJECTION
TEST_CASE("after a kill in the middle of a batch, Files lists only files the kernel holds", "[luod][hostile][info]")
{
    LuodOptions o;
    o.env = {"LUOD_FAULT=preserve-midway"};
    Luod t(o);
    t.client.create_session("batch");
    UniqueFd a = make_memfd("a", "A"), b = make_memfd("b", "B"), c = make_memfd("c", "C");
    (void)dbus_error_of([&] { t.client.preserve("batch", {{a.get(), "a"}, {b.get(), "b"}, {c.get(), "c"}}); });
    t.luod.wait_exit();
    t.luod.options().env.clear();
    t.luod.start();
    auto kernel = t.kernel_sessions()["batch"];
    auto listed = t.client.files("batch");
    REQUIRE(kernel.size() == 1);  // "a" went through, then luod died
    CHECK(listed.size() == kernel.size());
    for (const auto& [label, token, type] : listed)
        CHECK(std::find(kernel.begin(), kernel.end(), token) != kernel.end());
    // What did not go through can be preserved again under its label.
    CHECK(dbus_error_of([&] { t.client.preserve("batch", {{b.get(), "b"}, {c.get(), "c"}}); }) == "");
    CHECK(t.kernel_sessions()["batch"].size() == 3);
}
#endif

TEST_CASE("at its fd limit luod says so instead of calling a file not open", "[luod][hostile][info]")
{
    Luod t;
    t.client.create_session("full");
    std::size_t open_now = t.settled_fd_count();
    rlimit limit{open_now + 1, open_now + 1};
    REQUIRE(::prlimit(t.luod.pid(), RLIMIT_NOFILE, &limit, nullptr) == 0);
    UniqueFd m = make_memfd("m");
    DbusFailure f = dbus_failure_of([&] { t.client.preserve("full", m.get(), "m"); });
    CHECK(f.message.find("not an open file") == std::string::npos);
    if (!f.name.empty())
        CHECK(f.name == err::kLimitsExceeded);
    rlimit back{65536, 65536};
    ::prlimit(t.luod.pid(), RLIMIT_NOFILE, &back, nullptr);
    CHECK(t.luod.alive());
}

TEST_CASE("the restore log names the manifest generation it restored", "[luod][hostile][info]")
{
    Luod t;
    t.client.create_session("gen");
    t.luod.stop(SIGTERM);
    t.luod.start();
    std::string log = t.luod.log();
    auto at = log.rfind("manifest generation ");
    REQUIRE(at != std::string::npos);
    CHECK(log.compare(at, 21, "manifest generation 0") != 0);
}
