// SPDX-License-Identifier: Apache-2.0
// polkit delegates luod's root-only members: luod asks polkit (a stand-in for its authority on
// the test bus) about a caller other than root, never blocks while it waits, runs the call for a
// caller polkit allows and refuses it, with its usual error, to one it does not. Without polkit,
// or with a polkit that fails, they stay root's.
#include "eventually.h"
#include "fixture.h"
#include "luo-dbus/sdbus_compat.h"
#include "luo/dbus_api.h"
#include "luo_catch.h"
#include "polkit_stand_in.h"

using namespace luo;
using namespace luo::test;
namespace err = luo::dbus::error;

namespace {

constexpr const char* kLoadKernel = "org.luod.LiveUpdate1.load-kernel";
constexpr const char* kUpdate = "org.luod.LiveUpdate1.update";
constexpr const char* kInhibitBlock = "org.luod.LiveUpdate1.inhibit-block";
constexpr const char* kListInhibitors = "org.luod.LiveUpdate1.list-inhibitors";

using Options = std::map<std::string, sdbus::Variant>;

std::size_t list_inhibitors(LuodClient& c)
{
    std::vector<sdbus::Struct<std::string, std::string, std::string, std::uint32_t, std::uint32_t>> out;
    c.manager().callMethod("ListInhibitors").onInterface(dbus::kManagerInterface).storeResultsTo(out);
    return out.size();
}

UniqueFd inhibit(LuodClient& c, const std::string& mode)
{
    sdbus::UnixFd fd;
    c.manager()
        .callMethod("Inhibit")
        .onInterface(dbus::kManagerInterface)
        .withArguments(std::string("update"), std::string("polkit-test"), std::string("testing"), mode)
        .storeResultsTo(fd);
    return UniqueFd(fd.release());
}

void update(LuodClient& c, const Options& options)
{
    c.manager().callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(options);
}

// luod's own refusal of a root-only member, naming the polkit action that would allow it.
std::string refused(const std::string& what, const DbusFailure& got, const std::string& action)
{
    if (got.name == err::kAccessDenied && got.message.find("only root may") != std::string::npos &&
        got.message.find(action) != std::string::npos)
        return "";
    return what + ": got '" + got.name + ": " + got.message + "', want luod's AccessDenied naming " + action + "; ";
}

}  // namespace

TEST_CASE("polkit: a caller polkit allows an action may do it, others and other actions stay root's",
          "[luod][polkit][access]")
{
    Luod t({}, machine());
    PolkitStandIn polkit(t.bus.address());
    polkit.allow(nobody_uid(), kListInhibitors);
    polkit.allow(nobody_uid(), kLoadKernel);
    polkit.allow(nobody_uid(), kUpdate);
    polkit.allow(nobody_uid(), kInhibitBlock);
    UniqueFd roots = inhibit(t.client, "delay");
    std::string kernel = t.kernel_image();

    int delegated = check_as(nobody_uid(), [&]() -> std::string {
        LuodClient c(t.bus.address());
        std::string r;
        r += expect("ListInhibitors", dbus_error_of([&] { r += list_inhibitors(c) == 1 ? "" : "not 1 inhibitor; "; }),
                    "");
        r += expect("LoadKernel", dbus_error_of([&] { c.load_kernel(kernel); }), "");
        r += expect("UnloadKernel", dbus_error_of([&] { c.call_manager("UnloadKernel"); }), "");
        r += expect("LoadKernel again", dbus_error_of([&] { c.load_kernel(kernel); }), "");
        return r;
    });
    CHECK(delegated == 0);
    // An update (a dry run: checks and the barrier, which root's delay lock would hold up).
    roots.reset();
    int updated = check_as(nobody_uid(), [&]() -> std::string {
        LuodClient c(t.bus.address());
        // Arguments are checked before polkit is asked, and after it allowed as for root.
        return expect("Update with an unknown option", dbus_error_of([&] {
                          update(c, {{"Colour", sdbus::Variant(std::string("red"))}});
                      }),
                      err::kInvalidArgs) +
            expect("Update (dry run)", dbus_error_of([&] {
                       update(c, {{"DryRun", sdbus::Variant(true)}});
                   }),
                   "");
    });
    CHECK(updated == 0);
    CHECK(t.client.manager_string("LoadedCmdline").find("liveupdate=on") != std::string::npos);
    CHECK(eventually([&] { return nlohmann::json::parse(t.client.last_update()).value("result", "") == "dry-run"; }));

    // A block lock too, which polkit was asked about; a delay lock is anyone's, without asking.
    std::size_t asked_before_locks = polkit.questions().size();
    int locks = check_as(nobody_uid(), [&]() -> std::string {
        LuodClient c(t.bus.address());
        std::string r;
        r += expect("Inhibit(block)", dbus_error_of([&] { UniqueFd fd = inhibit(c, "block"); }), "");
        r += expect("Inhibit(delay)", dbus_error_of([&] { UniqueFd fd = inhibit(c, "delay"); }), "");
        return r;
    });
    CHECK(locks == 0);
    auto asked = polkit.questions();
    REQUIRE(asked.size() == asked_before_locks + 1);
    CHECK(asked.back().action == kInhibitBlock);

    // Another uid, and nobody for an action polkit does not allow: luod's refusal, nothing done.
    int others = check_as(other_uid(), [&]() -> std::string {
        LuodClient c(t.bus.address());
        return refused("ListInhibitors", dbus_failure_of([&] { list_inhibitors(c); }), kListInhibitors) +
            refused("UnloadKernel", dbus_failure_of([&] { c.call_manager("UnloadKernel"); }), kLoadKernel) +
            refused("Cancel", dbus_failure_of([&] { c.call_manager("Cancel"); }), kUpdate) +
            refused("Inhibit(block)", dbus_failure_of([&] { UniqueFd fd = inhibit(c, "block"); }), kInhibitBlock);
    });
    CHECK(others == 0);
    CHECK(t.client.manager_string("LoadedCmdline").find("liveupdate=on") != std::string::npos);  // still loaded

    // Every question named the caller's connection, asked for no interaction, and came from
    // the right uid; root's own calls asked nothing.
    std::size_t before_root = polkit.questions().size();
    CHECK(list_inhibitors(t.client) == 0);  // nobody's locks ended with its child
    t.client.call_manager("UnloadKernel");
    CHECK(polkit.questions().size() == before_root);
    for (const auto& q : polkit.questions()) {
        CHECK(q.subject_kind == "system-bus-name");
        CHECK(q.flags == 0);
        CHECK((q.uid == nobody_uid() || q.uid == other_uid()));
    }
}

TEST_CASE("polkit: without polkit on the bus, or with one that fails, root's members stay root's",
          "[luod][polkit][access]")
{
    Luod t({}, machine());
    std::string kernel = t.kernel_image();
    auto nobody_is_refused = [&] {
        return check_as(nobody_uid(), [&]() -> std::string {
            LuodClient c(t.bus.address());
            return refused("ListInhibitors", dbus_failure_of([&] { list_inhibitors(c); }), kListInhibitors) +
                refused("LoadKernel", dbus_failure_of([&] { c.load_kernel(kernel); }), kLoadKernel) +
                refused("Update", dbus_failure_of([&] {
                            update(c, {{"DryRun", sdbus::Variant(true)}});
                        }),
                        kUpdate);
        });
    };
    // No polkit on the bus at all.
    CHECK(nobody_is_refused() == 0);
    // A polkit that would allow it, but fails every question.
    PolkitStandIn polkit(t.bus.address());
    polkit.allow(nobody_uid(), kListInhibitors);
    polkit.allow(nobody_uid(), kLoadKernel);
    polkit.allow(nobody_uid(), kUpdate);
    polkit.fail_every_question(true);
    CHECK(nobody_is_refused() == 0);
    CHECK(polkit.questions().size() == 3);
    CHECK(t.client.manager_string("LoadedCmdline").empty());
    CHECK(t.client.last_update() == "{}");
    // The same polkit answering again: allowed.
    polkit.fail_every_question(false);
    CHECK(check_as(nobody_uid(), [&]() -> std::string {
              LuodClient c(t.bus.address());
              return expect("ListInhibitors", dbus_error_of([&] { list_inhibitors(c); }), "");
          }) == 0);
}

TEST_CASE("polkit: luod serves others while polkit thinks, and answers the waiting caller after", "[luod][polkit]")
{
    Luod t;
    PolkitStandIn polkit(t.bus.address());
    polkit.allow(nobody_uid(), kListInhibitors);
    polkit.hold_answers(true);
    // nobody's ListInhibitors, as an operator would type it, waits for polkit.
    BackgroundProgram waiting({"/usr/bin/setpriv", "--reuid=" + std::to_string(nobody_uid()),
                               "--regid=" + std::to_string(nobody_uid()), "--clear-groups", "/usr/bin/busctl",
                               "--address=" + t.bus.address(), "call", dbus::kBusName, dbus::kManagerPath,
                               dbus::kManagerInterface, "ListInhibitors"});
    REQUIRE(polkit.wait_for_questions(1));
    // Meanwhile luod answers root, and another user, at once.
    CHECK_NOTHROW(t.client.create_session("meanwhile"));
    CHECK(t.client.manager_string("State") == "idle");
    CHECK(check_as(other_uid(), [&]() -> std::string {
              LuodClient c(t.bus.address());
              return expect("CreateSession", dbus_error_of([&] { c.create_session("others"); }), "");
          }) == 0);
    polkit.hold_answers(false);
    ProgramResult answered = waiting.finish();
    INFO(answered.err);
    CHECK(answered.status == 0);
    CHECK(answered.out == "a(sssuu) 0\n");
}
