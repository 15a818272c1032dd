// SPDX-License-Identifier: Apache-2.0
// The kernel's `liveupdate` selftest table (tools/testing/selftests/liveupdate/liveupdate.c,
// docs/kernel-abi.md §8.1), run against luo-kernel-model through libluo on every profile where the
// scenario applies, plus what older kernels do instead where they differ.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "luo_catch.h"
#include <cstring>

#include "harness.h"
#include "luo/device.h"
#include "luo/error.h"
#include "luo/uapi.h"
#include "profiles.h"

using namespace luo;
using namespace luo::test;

namespace {

// The errno a libluo call fails with, or 0.
int raw_create(Device& dev, const std::uint8_t (&name)[uapi::kSessionNameLength], UniqueFd* out = nullptr)
{
    uapi::liveupdate_ioctl_create_session args{};
    args.size = sizeof args;
    std::memcpy(args.name, name, sizeof args.name);
    int rc = raw_ioctl(dev.fd(), uapi::kIoctlCreateSession, &args);
    if (rc == 0 && out)
        out->reset(args.fd);
    else if (rc == 0)
        ::close(args.fd);
    return rc;
}

}  // namespace

TEMPLATE_TEST_CASE("liveupdate.basic_open_close: /dev/liveupdate opens as the model's device and closes",
                   "[selftest]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    CHECK(dev.fd() >= 0);
    CHECK(dev.transport() == Transport::model);
    CHECK(::close(dev.release().release()) == 0);
}

TEMPLATE_TEST_CASE("liveupdate.exclusive_open: a second open is EBUSY until the last fd of the first is closed",
                   "[selftest]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    Device first = Device::open(model.root());
    CHECK(errno_of([&] { Device::open(model.root()); }) == EBUSY);
    // A dup of the open device is not a new open; closing the first opener frees it.
    UniqueFd dup = dup_fd(first.fd());
    first.close();
    CHECK(errno_of([&] { Device::open(model.root()); }) == EBUSY);
    dup.reset();
    // As in the kernel, the release is done when close() returns.
    CHECK(errno_of([&] { Device::open(model.root()); }) == 0);
    CHECK(errno_of([&] { Device::open(model.root()); }) == 0);
}

TEMPLATE_TEST_CASE("liveupdate.create_duplicate_session: a name in use is EEXIST", "[selftest]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    Session s = dev.create_session("duplicate-session-test");
    CHECK(s.fd() >= 0);
    CHECK(errno_of([&] { dev.create_session("duplicate-session-test"); }) == EEXIST);
}

TEMPLATE_TEST_CASE("liveupdate.create_distinct_sessions: two names give two session fds", "[selftest]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    Session a = dev.create_session("distinct-session-1");
    Session b = dev.create_session("distinct-session-2");
    CHECK(a.fd() >= 0);
    CHECK(b.fd() >= 0);
    CHECK(::close(a.release().release()) == 0);
    CHECK(::close(b.release().release()) == 0);
}

TEMPLATE_TEST_CASE("liveupdate.preserve_memfd: the memfd stays readable, also after its session is closed",
                   "[selftest]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    Session s = dev.create_session("preserve-memfd-test");
    UniqueFd memfd = make_memfd("test-memfd", "hello liveupdate");
    s.preserve_fd(memfd.get(), 0x1234);
    // Closing the session unpreserves the file; the memfd itself stays usable.
    CHECK(::close(s.release().release()) == 0);
    CHECK(::lseek(memfd.get(), 0, SEEK_SET) == 0);
    CHECK(read_all(memfd.get()) == "hello liveupdate");
}

TEMPLATE_TEST_CASE("liveupdate.preserve_multiple_memfds: two memfds in one session keep their contents",
                   "[selftest]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    Session s = dev.create_session("preserve-multi-memfd-test");
    UniqueFd one = make_memfd("one", "data for memfd one");
    UniqueFd two = make_memfd("two", "data for memfd two");
    s.preserve_fd(one.get(), 0xAAAA);
    s.preserve_fd(two.get(), 0xBBBB);
    CHECK(read_all(one.get()) == "data for memfd one");
    CHECK(read_all(two.get()) == "data for memfd two");
}

TEMPLATE_TEST_CASE("liveupdate.preserve_complex_scenario: full and empty memfds in two sessions",
                   "[selftest]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    Session s1 = dev.create_session("complex-session-1");
    Session s2 = dev.create_session("complex-session-2");
    UniqueFd data1 = make_memfd("data1", "data for session 1");
    UniqueFd empty1 = make_memfd("empty1");
    UniqueFd data2 = make_memfd("data2", "data for session 2");
    UniqueFd empty2 = make_memfd("empty2");
    s1.preserve_fd(data1.get(), 0x1111);
    s1.preserve_fd(empty1.get(), 0x2222);
    s2.preserve_fd(data2.get(), 0x3333);
    s2.preserve_fd(empty2.get(), 0x4444);
    CHECK(read_all(data1.get()) == "data for session 1");
    CHECK(read_all(data2.get()) == "data for session 2");
    CHECK(read_all(empty1.get()).empty());
    CHECK(read_all(empty2.get()).empty());
}

TEMPLATE_TEST_CASE("liveupdate.preserve_unsupported_fd: /dev/null is ENOENT (no file handler)",
                   "[selftest]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    Session s = dev.create_session("unsupported-fd-test");
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    CHECK(errno_of([&] { s.preserve_fd(null.get(), 0xDEAD); }) == ENOENT);
}

TEMPLATE_TEST_CASE("liveupdate.prevent_double_preservation: a preserved file is EBUSY in any session, by any fd",
                   "[selftest]", LUO_KERNELS_SINCE_7_1)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    Session s1 = dev.create_session("double-preserve-session-1");
    Session s2 = dev.create_session("double-preserve-session-2");
    UniqueFd memfd = make_memfd("double", "x");
    CHECK(errno_of([&] { s1.preserve_fd(memfd.get(), 0x1111); }) == 0);
    CHECK(errno_of([&] { s2.preserve_fd(memfd.get(), 0x2222); }) == EBUSY);
    CHECK(errno_of([&] { s1.preserve_fd(memfd.get(), 0x3333); }) == EBUSY);
    // A second fd on the same memfd (another open file description) is the same file.
    UniqueFd reopened(::open(("/proc/self/fd/" + std::to_string(memfd.get())).c_str(), O_RDWR | O_CLOEXEC));
    CHECK(errno_of([&] { s2.preserve_fd(reopened.get(), 0x4444); }) == EBUSY);
}

TEST_CASE("liveupdate.prevent_double_preservation is absent before 7.1", "[selftest][6.19]")
{
    ModelProcess model({"6.19"});
    Device dev = Device::open(model.root());
    Session s1 = dev.create_session("double-preserve-session-1");
    Session s2 = dev.create_session("double-preserve-session-2");
    UniqueFd memfd = make_memfd("double", "x");
    CHECK(errno_of([&] { s1.preserve_fd(memfd.get(), 0x1111); }) == 0);
    CHECK(errno_of([&] { s2.preserve_fd(memfd.get(), 0x2222); }) == 0);
}

TEST_CASE("liveupdate.create_session_no_null_termination - kernel_7_2", "[selftest][7.2]")
{
    ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    std::uint8_t name[uapi::kSessionNameLength];
    std::memset(name, 'X', sizeof name);
    CHECK(raw_create(dev, name) == -EINVAL);
}

TEMPLATE_TEST_CASE("liveupdate.create_session_no_null_termination truncates before 7.2", "[selftest]",
                   kernel_6_19, kernel_7_1)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    std::uint8_t name[uapi::kSessionNameLength];
    std::memset(name, 'X', sizeof name);
    UniqueFd session;
    REQUIRE(raw_create(dev, name, &session) == 0);
    // The name was cut to 63 bytes: creating that name again is a duplicate.
    CHECK(errno_of([&] { dev.create_session(std::string(63, 'X')); }) == EEXIST);
}

TEST_CASE("liveupdate.create_session_empty_name - kernel_7_2", "[selftest][7.2]")
{
    ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    std::uint8_t name[uapi::kSessionNameLength] = {};
    CHECK(raw_create(dev, name) == -EINVAL);
}

TEMPLATE_TEST_CASE("liveupdate.create_session_empty_name is accepted before 7.2", "[selftest]",
                   kernel_6_19, kernel_7_1)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    std::uint8_t name[uapi::kSessionNameLength] = {};
    CHECK(raw_create(dev, name) == 0);
}

TEST_CASE("liveupdate.get_session_name - kernel_7_2", "[selftest][7.2]")
{
    ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    Session s = dev.create_session("get-name-test-session");
    CHECK(s.get_name() == "get-name-test-session");
}

TEST_CASE("liveupdate.get_session_name_max_length - kernel_7_2", "[selftest][7.2]")
{
    ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    std::string name(63, 'A');
    Session s = dev.create_session(name);
    CHECK(s.get_name() == name);
}

TEMPLATE_TEST_CASE("liveupdate.get_session_name does not exist before 7.2", "[selftest]", kernel_6_19,
                   kernel_7_1)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    Session s = dev.create_session("get-name-test-session");
    // nr 0x43 is past the last session ioctl: EINVAL, not ENOTTY.
    CHECK(errno_of([&] { s.get_name(); }) == EINVAL);
}

TEST_CASE("liveupdate.preserve_many_sessions - kernel_7_2", "[selftest][7.2]")
{
    raise_fd_limit(8192);
    ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    std::vector<Session> sessions;
    for (int i = 0; i < 2000; ++i)
        sessions.push_back(dev.create_session("many-session-" + std::to_string(i)));
    CHECK(sessions.size() == 2000);
    sessions.clear();
}

TEMPLATE_TEST_CASE("liveupdate.preserve_many_sessions fails at 820 before 7.2", "[selftest]",
                   kernel_6_19, kernel_7_1)
{
    raise_fd_limit(8192);
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    std::vector<Session> sessions;
    for (int i = 0; i < 819; ++i)
        sessions.push_back(dev.create_session("many-session-" + std::to_string(i)));
    CHECK(errno_of([&] { dev.create_session("many-session-819"); }) == ENOMEM);
    CHECK(errno_of([&] { dev.create_session("many-session-0"); }) == ENOMEM);  // full before duplicate
    // Closing one frees its slot at once.
    sessions.pop_back();
    CHECK(errno_of([&] { sessions.push_back(dev.create_session("many-session-819")); }) == 0);
}

TEST_CASE("liveupdate.preserve_many_files - kernel_7_2", "[selftest][7.2]")
{
    raise_fd_limit(8192);
    ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    Session s = dev.create_session("many-files-test");
    std::vector<UniqueFd> memfds;
    for (std::uint64_t token = 0; token < 500; ++token) {
        memfds.push_back(make_memfd("many", "x"));
        s.preserve_fd(memfds.back().get(), token);
    }
    memfds.clear();
    CHECK(model.alive());
}

TEMPLATE_TEST_CASE("liveupdate.preserve_many_files fails at 129 before 7.2", "[selftest]", kernel_6_19,
                   kernel_7_1)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    Session s = dev.create_session("many-files-test");
    for (std::uint64_t token = 0; token < 128; ++token)
        s.preserve_fd(make_memfd("many").get(), token);
    CHECK(errno_of([&] { s.preserve_fd(make_memfd("many").get(), 128); }) == ENOSPC);
}

TEST_CASE("7.2 block limits end sessions and files with ENOSPC", "[abi][7.2]")
{
    // Two blocks per chain: 102 sessions (51 per block), 126 files (63 per block).
    ModelProcess model({"7.2", "kho=on liveupdate=on", {"--max-blocks", "2"}});
    Device dev = Device::open(model.root());
    std::vector<Session> sessions;
    for (int i = 0; i < 102; ++i)
        sessions.push_back(dev.create_session("s" + std::to_string(i)));
    CHECK(errno_of([&] { dev.create_session("one-too-many"); }) == ENOSPC);
    // Room is made before names are compared: at the cap a duplicate name is ENOSPC too.
    CHECK(errno_of([&] { dev.create_session("s0"); }) == ENOSPC);
    Session& s = sessions.front();
    for (std::uint64_t token = 0; token < 126; ++token)
        s.preserve_fd(make_memfd("f").get(), token);
    CHECK(errno_of([&] { s.preserve_fd(make_memfd("f").get(), 126); }) == ENOSPC);
}
