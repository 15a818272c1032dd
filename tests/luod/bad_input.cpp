// SPDX-License-Identifier: Apache-2.0
// The bad-input matrix: every Manager and Session method with malformed arguments (empty,
// oversized, reserved and ill-formed names; unknown and ill-typed options; wrong signatures;
// every kind of wrong fd; calls in the wrong state; a non-root and non-owner caller). Each
// case must be answered with one of the error names the API documents for it. Afterwards
// luod is alive, holds exactly the fds it held before, and the existing session's files and
// contents are intact — checked across a real model kexec.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luo_catch.h"
#include <fstream>
#include <functional>
#include "luo-dbus/sdbus_compat.h"
#include <set>
#include <sstream>

#include "fixture.h"
#include "luo/dbus_api.h"
#include "luo/model_control.h"

using namespace luo;
using namespace luo::test;
namespace err = luo::dbus::error;

namespace {

using Options = std::map<std::string, sdbus::Variant>;

constexpr const char* kUnknownObject = "org.freedesktop.DBus.Error.UnknownObject";
constexpr const char* kUnknownMethod = "org.freedesktop.DBus.Error.UnknownMethod";
constexpr const char* kUnknownProperty = "org.freedesktop.DBus.Error.UnknownProperty";
constexpr const char* kPropertyReadOnly = "org.freedesktop.DBus.Error.PropertyReadOnly";

// Runs cases, counting them and collecting every answer that is not one of the allowed errors.
class Matrix {
public:
    void expect(const std::string& what, const std::function<void()>& call, std::set<std::string> allowed)
    {
        ++tried_;
        std::string got = dbus_error_of(call);
        if (!allowed.count(got))
            failures_.push_back(what + ": got '" + (got.empty() ? "success" : got) + "'");
    }
    // A case the client library itself refuses (e.g. an fd it cannot send): any exception.
    void expect_refused(const std::string& what, const std::function<void()>& call)
    {
        ++tried_;
        try {
            call();
            failures_.push_back(what + ": was sent and succeeded");
        } catch (const std::exception&) {
        }
    }
    [[nodiscard]] int tried() const { return tried_; }
    [[nodiscard]] const std::vector<std::string>& failures() const { return failures_; }
    [[nodiscard]] std::string report() const
    {
        std::ostringstream out;
        for (const auto& f : failures_)
            out << f << "\n";
        return out.str();
    }

private:
    int tried_ = 0;
    std::vector<std::string> failures_;
};

struct Proxies {
    explicit Proxies(sdbus::IConnection& bus, const std::string& victim_path)
        : manager(luo::sdbus_compat::create_proxy(bus, dbus::kBusName, dbus::kManagerPath)),
          session(luo::sdbus_compat::create_proxy(bus, dbus::kBusName, victim_path))
    {
    }
    template <typename... Args>
    void call_manager(const char* member, Args&&... args)
    {
        manager->callMethod(member).onInterface(dbus::kManagerInterface).withArguments(std::forward<Args>(args)...);
    }
    template <typename... Args>
    void call_session(const char* member, Args&&... args)
    {
        session->callMethod(member).onInterface(dbus::kSessionInterface).withArguments(std::forward<Args>(args)...);
    }
    std::unique_ptr<sdbus::IProxy> manager, session;
};

std::vector<std::string> bad_names()
{
    return {"", std::string(64, 'x'), std::string(1000, 'x'), "a/b", "/", "tab\there", std::string("\x7f"),
            "new\nline"};
}

// Every case a root caller can get wrong.
void root_cases(Matrix& m, Proxies& p, const std::filesystem::path& scratch, int victim_memfd)
{
    for (const auto& name : bad_names()) {
        m.expect("CreateSession('" + name.substr(0, 8) + "')", [&] { p.call_manager("CreateSession", name, Options{}); },
                 {err::kInvalidArgs});
        m.expect("GetSession(bad name)", [&] { p.call_manager("GetSession", name); },
                 {err::kNoSuchSession, err::kInvalidArgs});
        m.expect("RetrieveSession(bad name)", [&] { p.call_manager("RetrieveSession", name); }, {err::kNoSuchSession});
    }
    for (const char* reserved : {"systemd", "luod", "luod.probe", "luod.anything"})
        m.expect(std::string("CreateSession(") + reserved + ")", [&] { p.call_manager("CreateSession", std::string(reserved), Options{}); },
                 {err::kNameReserved});
    m.expect("CreateSession(existing)", [&] { p.call_manager("CreateSession", std::string("victim"), Options{}); },
             {err::kSessionExists});
    std::vector<std::pair<std::string, Options>> bad_create_options{
        {"unknown option", {{"Colour", sdbus::Variant(std::string("blue"))}}},
        {"OwnerUID as string", {{"OwnerUID", sdbus::Variant(std::string("0"))}}},
        {"OwnerUID as uint64", {{"OwnerUID", sdbus::Variant(std::uint64_t{0})}}},
        {"OwnerUID as bool", {{"OwnerUID", sdbus::Variant(true)}}},
        {"OwnerUnit as uint32", {{"OwnerUnit", sdbus::Variant(std::uint32_t{1})}}},
        {"OwnerUID -1", {{"OwnerUID", sdbus::Variant(std::uint32_t{UINT32_MAX})}}},
        {"OwnerUnit not a unit", {{"OwnerUnit", sdbus::Variant(std::string("vmm"))}}},
        {"OwnerUnit with a newline", {{"OwnerUnit", sdbus::Variant(std::string("vmm.service\nLUO_SESSION=x"))}}},
        {"OwnerUnit oversized", {{"OwnerUnit", sdbus::Variant(std::string(300, 'a') + ".service")}}},
    };
    for (const auto& [what, options] : bad_create_options)
        m.expect("CreateSession(" + what + ")", [&] { p.call_manager("CreateSession", std::string("opt"), options); },
                 {err::kInvalidArgs});
    // Wrong signatures never reach luod's code: sd-bus answers them.
    m.expect("CreateSession(u)", [&] { p.call_manager("CreateSession", std::uint32_t{1}); }, {err::kInvalidArgs});
    m.expect("CreateSession(s)", [&] { p.call_manager("CreateSession", std::string("x")); }, {err::kInvalidArgs});
    m.expect("CreateSession(s,a{sv},s)", [&] { p.call_manager("CreateSession", std::string("x"), Options{}, std::string("y")); },
             {err::kInvalidArgs});
    m.expect("GetSession(u)", [&] { p.call_manager("GetSession", std::uint32_t{7}); }, {err::kInvalidArgs});
    m.expect("ListSessions(s)", [&] { p.call_manager("ListSessions", std::string("x")); }, {err::kInvalidArgs});
    m.expect("RetrieveSession(outgoing)", [&] { p.call_manager("RetrieveSession", std::string("victim")); },
             {err::kNoSuchSession});
    m.expect("Nonexistent method", [&] { p.call_manager("Frobnicate"); }, {kUnknownMethod});

    auto inhibit = [&](const std::string& what, const std::string& who, const std::string& why, const std::string& mode) {
        sdbus::UnixFd fd;
        p.manager->callMethod("Inhibit").onInterface(dbus::kManagerInterface).withArguments(what, who, why, mode).storeResultsTo(fd);
    };
    m.expect("Inhibit(what=shutdown)", [&] { inhibit("shutdown", "w", "y", "delay"); }, {err::kInvalidArgs});
    m.expect("Inhibit(mode=maybe)", [&] { inhibit("update", "w", "y", "maybe"); }, {err::kInvalidArgs});
    m.expect("Inhibit(who oversized)", [&] { inhibit("update", std::string(256, 'w'), "y", "delay"); }, {err::kInvalidArgs});
    m.expect("Inhibit(why oversized)", [&] { inhibit("update", "w", std::string(4096, 'y'), "delay"); }, {err::kInvalidArgs});
    m.expect("Inhibit(ss)", [&] { p.call_manager("Inhibit", std::string("update"), std::string("w")); }, {err::kInvalidArgs});

    auto dir = scratch / "dir";
    std::filesystem::create_directory(dir);
    auto junk = scratch / "junk";
    { std::ofstream(junk) << "not a kernel"; }
    auto fifo = scratch / "fifo";
    ::mkfifo(fifo.c_str(), 0600);
    auto image = scratch / "vmlinuz";
    model::write_kernel_image(image, "7.2");
    auto load = [&](const std::string& kernel, const std::string& initrd, const std::string& cmdline, const Options& o) {
        p.call_manager("LoadKernel", kernel, initrd, cmdline, o);
    };
    for (const std::string& bad : {std::string("relative"), std::string(""), (scratch / "missing").native(), dir.native(),
                                   std::string("/dev/null"), fifo.native(), std::string(4096, '/')})
        m.expect("LoadKernel(kernel=" + bad.substr(0, 24) + ")", [&] { load(bad, "", "", {}); }, {err::kInvalidArgs});
    m.expect("LoadKernel(junk image)", [&] { load(junk.native(), "", "", {}); }, {err::kKernelError});
    m.expect("LoadKernel(initrd relative)", [&] { load(image.native(), "initrd.img", "", {}); }, {err::kInvalidArgs});
    m.expect("LoadKernel(initrd a directory)", [&] { load(image.native(), dir.native(), "", {}); }, {err::kInvalidArgs});
    m.expect("LoadKernel(cmdline oversized)", [&] { load(image.native(), "", std::string(3000, 'c'), {}); }, {err::kKernelError});
    m.expect("LoadKernel(unknown option)", [&] { load(image.native(), "", "", {{"Fast", sdbus::Variant(true)}}); },
             {err::kInvalidArgs});
    m.expect("LoadKernel(ReuseCmdline as string)",
             [&] { load(image.native(), "", "", {{"ReuseCmdline", sdbus::Variant(std::string("yes"))}}); },
             {err::kInvalidArgs});
    m.expect("LoadKernel(sss)", [&] { p.call_manager("LoadKernel", std::string("/x"), std::string(""), std::string("")); },
             {err::kInvalidArgs});
    m.expect("UnloadKernel(s)", [&] { p.call_manager("UnloadKernel", std::string("x")); }, {err::kInvalidArgs});
    m.expect("Check(u)", [&] { p.call_manager("Check", std::uint32_t{1}); }, {err::kInvalidArgs});

    std::vector<std::pair<std::string, Options>> bad_update_options{
        {"unknown option", {{"Now", sdbus::Variant(true)}}},
        {"DryRun as string", {{"DryRun", sdbus::Variant(std::string("true"))}}},
        {"Force as uint32", {{"Force", sdbus::Variant(std::uint32_t{1})}}},
        {"DelayTimeoutUSec as int32", {{"DelayTimeoutUSec", sdbus::Variant(std::int32_t{5})}}},
        {"DelayTimeoutUSec over a day", {{"DelayTimeoutUSec", sdbus::Variant(std::uint64_t{UINT64_MAX})}}},
        {"Strategy as bool", {{"Strategy", sdbus::Variant(true)}}},
        {"Strategy unknown", {{"Strategy", sdbus::Variant(std::string("teleport"))}}},
    };
    for (const auto& [what, options] : bad_update_options)
        m.expect("Update(" + what + ")", [&] { p.call_manager("Update", options); }, {err::kInvalidArgs, err::kNotLoaded});
    m.expect("Update(not loaded)", [&] { p.call_manager("Update", Options{}); }, {err::kNotLoaded});
    m.expect("Update(s)", [&] { p.call_manager("Update", std::string("now")); }, {err::kInvalidArgs});
    m.expect("Cancel(nothing to cancel)", [&] { p.call_manager("Cancel"); }, {err::kInvalidState});

    // The session's methods with every kind of wrong file and label.
    auto preserve = [&](int fd, const std::string& label) {
        std::uint64_t token;
        p.session->callMethod("PreserveFd").onInterface(dbus::kSessionInterface)
            .withArguments(sdbus::UnixFd(fd), label).storeResultsTo(token);
    };
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    UniqueFd sock_a(sv[0]), sock_b(sv[1]);
    int pp[2];
    REQUIRE(::pipe2(pp, O_CLOEXEC) == 0);
    UniqueFd pipe_r(pp[0]), pipe_w(pp[1]);
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    UniqueFd regular(::open(junk.c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd directory(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    UniqueFd huge(::memfd_create("huge", MFD_CLOEXEC | MFD_HUGETLB));
    UniqueFd fresh = make_memfd("fresh", "f");
    UniqueFd session_fd;
    {
        sdbus::UnixFd fd;
        p.session->callMethod("AcquireFd").onInterface(dbus::kSessionInterface).storeResultsTo(fd);
        session_fd.reset(fd.release());
    }
    std::vector<std::pair<std::string, int>> bad_files{{"a socket", sock_a.get()},     {"a pipe", pipe_r.get()},
                                                       {"/dev/null", null.get()},       {"a regular file", regular.get()},
                                                       {"a directory", directory.get()}, {"a LUO session", session_fd.get()}};
    if (huge)
        bad_files.emplace_back("a hugetlb memfd", huge.get());
    for (const auto& [what, fd] : bad_files)
        m.expect("PreserveFd(" + what + ")", [&] { preserve(fd, "bad"); }, {err::kUnsupportedFile});
    m.expect("PreserveFd(the same memfd again)", [&] { preserve(victim_memfd, "again"); }, {err::kFileAlreadyPreserved});
    for (const auto& label : {std::string(""), std::string(256, 'l'), std::string("new\nline"), std::string("\x01")})
        m.expect("PreserveFd(bad label)", [&] { preserve(fresh.get(), label); }, {err::kInvalidArgs});
    m.expect("PreserveFd(existing label)", [&] { preserve(fresh.get(), "data"); }, {err::kLabelExists});
    int closed = ::dup(fresh.get());
    ::close(closed);
    m.expect_refused("PreserveFd(a closed fd)", [&] { preserve(closed, "closed"); });
    m.expect("PreserveFd(ss)", [&] { p.call_session("PreserveFd", std::string("0"), std::string("x")); }, {err::kInvalidArgs});
    auto preserve_batch = [&](const std::vector<std::pair<int, std::string>>& files) {
        std::vector<sdbus::Struct<sdbus::UnixFd, std::string>> batch;
        for (const auto& [fd, label] : files)
            batch.emplace_back(sdbus::UnixFd(fd), label);
        std::vector<std::uint64_t> tokens;
        p.session->callMethod("PreserveFds").onInterface(dbus::kSessionInterface).withArguments(batch).storeResultsTo(tokens);
    };
    m.expect("PreserveFds(empty)", [&] { preserve_batch({}); }, {err::kInvalidArgs});
    m.expect("PreserveFds(label twice)", [&] { preserve_batch({{fresh.get(), "x"}, {null.get(), "x"}}); }, {err::kLabelExists});
    m.expect("PreserveFds(file twice)", [&] { preserve_batch({{fresh.get(), "x"}, {fresh.get(), "y"}}); },
             {err::kFileAlreadyPreserved});
    m.expect("PreserveFds(a bad label in the batch)", [&] { preserve_batch({{fresh.get(), "x"}, {null.get(), ""}}); },
             {err::kInvalidArgs});
    m.expect("RetrieveFd(outgoing)", [&] { sdbus::UnixFd fd; p.session->callMethod("RetrieveFd").onInterface(dbus::kSessionInterface).withArguments(std::string("data")).storeResultsTo(fd); },
             {err::kInvalidState});
    m.expect("RetrieveFd(u)", [&] { p.call_session("RetrieveFd", std::uint32_t{1}); }, {err::kInvalidArgs});
    m.expect("AcquireFd(s)", [&] { p.call_session("AcquireFd", std::string("x")); }, {err::kInvalidArgs});
    m.expect("Finish(outgoing)", [&] { p.call_session("Finish"); }, {err::kInvalidState});
    m.expect("Close(s)", [&] { p.call_session("Close", std::string("x")); }, {err::kInvalidArgs});
    m.expect("Get(unknown property)", [&] { p.session->getProperty("Colour").onInterface(dbus::kSessionInterface); },
             {kUnknownProperty});
    m.expect("Set(read-only property)",
             [&] { p.session->setProperty("Name").onInterface(dbus::kSessionInterface).toValue(std::string("renamed")); },
             {kPropertyReadOnly, err::kInvalidArgs});
    m.expect("Manager property Set",
             [&] { p.manager->setProperty("State").onInterface(dbus::kManagerInterface).toValue(std::string("idle")); },
             {kPropertyReadOnly, err::kInvalidArgs});
    auto gone = luo::sdbus_compat::create_proxy(p.manager->getConnection(), dbus::kBusName, "/org/luod/LiveUpdate1/session/nope");
    m.expect("Close(a session object that does not exist)",
             [&] { gone->callMethod("Close").onInterface(dbus::kSessionInterface); }, {kUnknownObject, kUnknownMethod});
}

// Every case a non-root caller who does not own the session can get wrong.
void other_uid_cases(Matrix& m, Proxies& p, int memfd)
{
    m.expect("Update as non-root", [&] { p.call_manager("Update", Options{}); }, {err::kAccessDenied});
    m.expect("Cancel as non-root", [&] { p.call_manager("Cancel"); }, {err::kAccessDenied});
    m.expect("UnloadKernel as non-root", [&] { p.call_manager("UnloadKernel"); }, {err::kAccessDenied});
    m.expect("LoadKernel as non-root",
             [&] { p.call_manager("LoadKernel", std::string("/boot/vmlinuz"), std::string(""), std::string(""), Options{}); },
             {err::kAccessDenied});
    m.expect("CreateSession(OwnerUID) as non-root",
             [&] { p.call_manager("CreateSession", std::string("mine"), Options{{"OwnerUID", sdbus::Variant(std::uint32_t{0})}}); },
             {err::kAccessDenied});
    m.expect("Inhibit(block) as non-root", [&] {
        sdbus::UnixFd fd;
        p.manager->callMethod("Inhibit").onInterface(dbus::kManagerInterface)
            .withArguments(std::string("update"), std::string("w"), std::string("y"), std::string("block")).storeResultsTo(fd);
    }, {err::kAccessDenied});
    m.expect("GetSession(not mine)", [&] { p.call_manager("GetSession", std::string("victim")); }, {err::kNoSuchSession});
    m.expect("RetrieveSession(not mine)", [&] { p.call_manager("RetrieveSession", std::string("victim")); },
             {err::kNoSuchSession});
    m.expect("PreserveFd into another's session",
             [&] { std::uint64_t t; p.session->callMethod("PreserveFd").onInterface(dbus::kSessionInterface).withArguments(sdbus::UnixFd(memfd), std::string("x")).storeResultsTo(t); },
             {kUnknownObject});
    m.expect("PreserveFds into another's session", [&] {
        std::vector<sdbus::Struct<sdbus::UnixFd, std::string>> batch{{sdbus::UnixFd(memfd), std::string("x")}};
        std::vector<std::uint64_t> t;
        p.session->callMethod("PreserveFds").onInterface(dbus::kSessionInterface).withArguments(batch).storeResultsTo(t);
    }, {kUnknownObject});
    m.expect("AcquireFd of another's session",
             [&] { sdbus::UnixFd fd; p.session->callMethod("AcquireFd").onInterface(dbus::kSessionInterface).storeResultsTo(fd); },
             {kUnknownObject});
    m.expect("RetrieveFd of another's session",
             [&] { sdbus::UnixFd fd; p.session->callMethod("RetrieveFd").onInterface(dbus::kSessionInterface).withArguments(std::string("data")).storeResultsTo(fd); },
             {kUnknownObject});
    m.expect("Finish another's session", [&] { p.call_session("Finish"); }, {kUnknownObject});
    m.expect("Close another's session", [&] { p.call_session("Close"); }, {kUnknownObject});
    m.expect("Files of another's session", [&] { p.session->getProperty("Files").onInterface(dbus::kSessionInterface); },
             {kUnknownObject});
    m.expect("Set a property (not allowed by the policy)",
             [&] { p.session->setProperty("Name").onInterface(dbus::kSessionInterface).toValue(std::string("x")); },
             {err::kAccessDenied});
}

}  // namespace

TEST_CASE("the bad-input matrix: every method with malformed arguments gets a documented error and changes nothing",
          "[luod][bad-input]")
{
    Luod t({}, machine());
    TempDir scratch;
    std::string path = t.client.create_session("victim");
    UniqueFd victim = make_memfd("victim", "the victim's data");
    t.client.preserve("victim", victim.get(), "data");
    auto files_before = t.client.files("victim");
    std::size_t fds_before = t.settled_fd_count();

    Matrix root;
    {
        Proxies p(t.client.connection(), path);
        root_cases(root, p, scratch.path(), victim.get());
    }
    INFO(root.report());
    CHECK(root.failures().empty());

    // The same as another uid, in a child; it reports how many it tried and what failed.
    auto report = scratch.path() / "other-uid";
    ::chmod(scratch.path().c_str(), 0711);
    { std::ofstream(report) << ""; }
    ::chmod(report.c_str(), 0666);  // the child writes it as another uid
    int status = run_as_uid(nobody_uid(), [&] {
        LuodClient c(t.bus.address());
        Proxies p(c.connection(), path);
        Matrix m;
        UniqueFd memfd = make_memfd("nobody", "x");
        other_uid_cases(m, p, memfd.get());
        std::ofstream(report) << m.tried() << "\n" << m.report();
        return m.failures().empty() ? 0 : 1;
    });
    std::ifstream in(report);
    int other_tried = 0;
    in >> other_tried;
    std::string other_failures((std::istreambuf_iterator<char>(in)), {});
    INFO(other_failures);
    CHECK(status == 0);

    WARN("bad-input cases tried: " << root.tried() + other_tried << " (" << root.tried() << " as root, " << other_tried
                                   << " as another uid)");
    CHECK(root.tried() + other_tried >= 100);

    // luod is alive and unchanged...
    CHECK(t.luod.alive());
    CHECK(t.settled_fd_count() == fds_before);
    CHECK(t.client.list_session_names() == std::vector<std::string>{"victim"});
    CHECK(t.client.files("victim") == files_before);
    CHECK(t.kernel_sessions()["victim"] == std::vector<std::uint64_t>{1});
    // ...and the victim's data comes across an update whole.
    t.client.load_kernel(t.kernel_image());
    std::string boot = t.model.boot_id();
    t.client.manager().callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(Options{});
    t.next_boot(boot);
    sdbus::ObjectPath claimed;
    t.client.manager().callMethod("RetrieveSession").onInterface(dbus::kManagerInterface)
        .withArguments(std::string("victim")).storeResultsTo(claimed);
    CHECK(read_all(t.client.retrieve_fd("victim", "data").get()) == "the victim's data");
}
