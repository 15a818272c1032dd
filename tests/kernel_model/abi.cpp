// SPDX-License-Identifier: Apache-2.0
// ABI details beyond the selftests (docs/kernel-abi.md §1.3-§1.5, §4.1): the kernel's dispatch and
// validation order with its errnos, what PRESERVE_FD accepts, session-kind checks per
// release, feature probing, and that failures leak nothing in the model.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "luo_catch.h"
#include <cstring>

#include "harness.h"
#include "luo/device.h"
#include "luo/error.h"
#include "luo/model_control.h"
#include "luo/model_wire.h"
#include "luo/paths.h"
#include "luo/uapi.h"
#include "profiles.h"

using namespace luo;
using namespace luo::test;

namespace {

// A create-session argument with room for trailing bytes after the 72 the kernel knows.
struct BigCreate {
    uapi::liveupdate_ioctl_create_session args;
    std::uint8_t tail[64];
};

BigCreate create_args(const char* name, std::uint32_t size)
{
    BigCreate b{};
    b.args.size = size;
    std::strncpy(reinterpret_cast<char*>(b.args.name), name, sizeof b.args.name - 1);
    return b;
}

int preserve_raw(int session_fd, int fd, std::uint64_t token, std::uint32_t size = 16)
{
    uapi::liveupdate_session_preserve_fd args{};
    args.size = size;
    args.fd = fd;
    args.token = token;
    return raw_ioctl(session_fd, uapi::kSessionPreserveFd, &args);
}

}  // namespace

TEST_CASE("device ioctls are validated in the kernel's order", "[abi]")
{
    ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    auto ok = create_args("order", 72);
    // 1. nr out of range: EINVAL, also for session ioctls sent to the device.
    CHECK(raw_ioctl(dev.fd(), uapi::ioctl_request(2), &ok) == -EINVAL);
    CHECK(raw_ioctl(dev.fd(), uapi::kSessionPreserveFd, &ok) == -EINVAL);
    // 2. the size word cannot be read: EFAULT (before the request value is checked).
    CHECK(raw_ioctl(dev.fd(), _IOWR(0xBA, 0, 72), nullptr) == -EFAULT);
    // 3. the full request value differs (direction/size bits): ENOTTY.
    CHECK(raw_ioctl(dev.fd(), _IOWR(0xBA, 0, 72), &ok) == -ENOTTY);
    CHECK(raw_ioctl(dev.fd(), _IO(0x12, 0), &ok) == -ENOTTY);
    // 5. size below the last known field: EINVAL.
    auto small = create_args("small", 71);
    CHECK(raw_ioctl(dev.fd(), uapi::kIoctlCreateSession, &small) == -EINVAL);
    // 6. a larger struct is fine if the unknown tail is zero, E2BIG otherwise.
    auto bigger = create_args("bigger", sizeof(BigCreate));
    CHECK(raw_ioctl(dev.fd(), uapi::kIoctlCreateSession, &bigger) == 0);
    ::close(bigger.args.fd);
    auto tail = create_args("tail", sizeof(BigCreate));
    tail.tail[10] = 1;
    CHECK(raw_ioctl(dev.fd(), uapi::kIoctlCreateSession, &tail) == -E2BIG);
    // A struct running into unmapped memory: EFAULT, and no crash in the caller.
    long page = ::sysconf(_SC_PAGESIZE);
    void* two = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(two != MAP_FAILED);
    ::mprotect(static_cast<char*>(two) + page, page, PROT_NONE);
    auto* edge = static_cast<std::uint8_t*>(two) + page - 8;
    std::uint32_t size = 72;
    std::memcpy(edge, &size, sizeof size);
    CHECK(raw_ioctl(dev.fd(), uapi::kIoctlCreateSession, edge) == -EFAULT);
    std::uint32_t huge = 0x100000;  // a megabyte of struct: the tail is unmapped
    std::memcpy(edge, &huge, sizeof huge);
    CHECK(raw_ioctl(dev.fd(), uapi::kIoctlCreateSession, edge) == -EFAULT);
    ::munmap(two, 2 * page);
    CHECK(model.alive());
}

TEST_CASE("session ioctls are validated in the kernel's order", "[abi]")
{
    ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    Session s = dev.create_session("order");
    UniqueFd memfd = make_memfd("m", "x");
    uapi::liveupdate_session_preserve_fd args{16, memfd.get(), 1};
    CHECK(raw_ioctl(s.fd(), uapi::ioctl_request(0x3F), &args) == -EINVAL);
    CHECK(raw_ioctl(s.fd(), uapi::ioctl_request(0x44), &args) == -EINVAL);
    CHECK(raw_ioctl(s.fd(), uapi::kIoctlCreateSession, &args) == -EINVAL);
    CHECK(raw_ioctl(s.fd(), _IOW(0xBA, 0x40, 16), &args) == -ENOTTY);
    CHECK(preserve_raw(s.fd(), memfd.get(), 1, 15) == -EINVAL);
    uapi::liveupdate_session_get_name name{};
    name.size = sizeof name;
    name.reserved = 1;
    CHECK(raw_ioctl(s.fd(), uapi::kSessionGetName, &name) == -EINVAL);
    // FINISH on an outgoing session: the kind is refused before the reserved word is read.
    uapi::liveupdate_session_finish fin{8, 7};
    CHECK(raw_ioctl(s.fd(), uapi::kSessionFinish, &fin) == -EINVAL);
}

TEST_CASE("PRESERVE_FD checks the token before the fd, then the fd, then its type", "[abi]")
{
    ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    Session s = dev.create_session("preserve");
    UniqueFd memfd = make_memfd("m", "x");
    REQUIRE(preserve_raw(s.fd(), memfd.get(), 1) == 0);
    CHECK(preserve_raw(s.fd(), 9999, 1) == -EEXIST);  // duplicate token wins over a bad fd
    CHECK(preserve_raw(s.fd(), 9999, 2) == -EBADF);
    CHECK(preserve_raw(s.fd(), -1, 2) == -EBADF);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    UniqueFd a(sv[0]), b(sv[1]);
    CHECK(preserve_raw(s.fd(), a.get(), 2) == -ENOENT);  // sockets
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    UniqueFd r(p[0]), w(p[1]);
    CHECK(preserve_raw(s.fd(), r.get(), 2) == -ENOENT);  // pipes
    CHECK(preserve_raw(s.fd(), s.fd(), 2) == -ENOENT);   // a LUO session fd
    CHECK(preserve_raw(s.fd(), dev.fd(), 2) == -ENOENT); // the device
    TempDir dir;
    UniqueFd regular(::open((dir.path() / "file").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    CHECK(preserve_raw(s.fd(), regular.get(), 2) == -ENOENT);  // not shmem
    if (std::filesystem::exists("/dev/shm")) {
        auto linked = std::filesystem::path("/dev/shm") / ("luo-test-" + std::to_string(::getpid()));
        UniqueFd shm(::open(linked.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        CHECK(preserve_raw(s.fd(), shm.get(), 2) == -ENOENT);  // linked tmpfs file
        ::unlink(linked.c_str());
        UniqueFd tmpfile(::open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
        if (tmpfile)
            CHECK(preserve_raw(s.fd(), tmpfile.get(), 3) == 0);  // unlinked shmem, like a memfd
    }
    UniqueFd huge(::memfd_create("huge", MFD_CLOEXEC | MFD_HUGETLB));
    if (huge)
        CHECK(preserve_raw(s.fd(), huge.get(), 4) == -ENOENT);  // hugetlb memfds are refused
}

TEMPLATE_TEST_CASE("a memfd needing more than UINT_MAX pages is EFBIG from 7.1", "[abi]", LUO_KERNELS_SINCE_7_1)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    Session s = dev.create_session("big");
    UniqueFd memfd = make_memfd("big");
    REQUIRE(::ftruncate(memfd.get(), (off_t{1} << 44) + 4096) == 0);  // sparse, 16 TiB + a page
    CHECK(errno_of([&] { s.preserve_fd(memfd.get(), 1); }) == EFBIG);
}

TEST_CASE("7.2 refuses ioctls on the wrong kind of session, older kernels do not", "[abi]")
{
    {
        ModelProcess model({"7.2"});
        Device dev = Device::open(model.root());
        Session s = dev.create_session("outgoing");
        uapi::liveupdate_session_retrieve_fd r{16, -1, 1};
        CHECK(raw_ioctl(s.fd(), uapi::kSessionRetrieveFd, &r) == -EINVAL);
        uapi::liveupdate_session_finish f{8, 0};
        CHECK(raw_ioctl(s.fd(), uapi::kSessionFinish, &f) == -EINVAL);
    }
    for (const char* profile : {"6.19", "7.1"}) {
        ModelProcess model({profile});
        Device dev = Device::open(model.root());
        Session s = dev.create_session("outgoing");
        uapi::liveupdate_session_retrieve_fd r{16, -1, 1};
        CHECK(raw_ioctl(s.fd(), uapi::kSessionRetrieveFd, &r) == -ENOENT);
        uapi::liveupdate_session_finish f{8, 0};
        CHECK(raw_ioctl(s.fd(), uapi::kSessionFinish, &f) == 0);
    }
}

TEMPLATE_TEST_CASE("libluo refuses wrong-kind calls itself on every kernel", "[abi][libluo]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    Session s = dev.create_session("outgoing");
    CHECK(errno_of([&] { s.retrieve_fd(1); }) == EINVAL);
    CHECK(errno_of([&] { s.finish(); }) == EINVAL);
    CHECK(errno_of([&] { dev.create_session(""); }) == EINVAL);
    CHECK(errno_of([&] { dev.create_session(std::string(64, 'x')); }) == EINVAL);
    CHECK(errno_of([&] { dev.create_session(std::string("a\0b", 3)); }) == EINVAL);
}

TEMPLATE_TEST_CASE("feature probing finds what each kernel supports", "[abi][libluo]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    Device dev = Device::open(model.root());
    Features f = dev.probe_features();
    CHECK(f.get_name == TestType::v7_2);
    CHECK(f.validates_names == TestType::v7_2);
    CHECK(f.rejects_double_preserve == TestType::v7_1);
    CHECK(f.max_sessions == (TestType::v7_2 ? 0u : 819u));
    CHECK(f.max_files_per_session == (TestType::v7_2 ? 0u : 128u));
    // The probe leaves nothing behind.
    CHECK_NOTHROW(dev.create_session("luo-feature-probe"));
}

TEST_CASE("closing an outgoing session unpreserves its files and frees its name", "[abi]")
{
    ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    UniqueFd memfd = make_memfd("m", "x");
    {
        Session s = dev.create_session("reused");
        s.preserve_fd(memfd.get(), 1);
    }
    Session again = dev.create_session("reused");
    CHECK_NOTHROW(again.preserve_fd(memfd.get(), 1));
}

TEST_CASE("RETRIEVE_SESSION on a first boot is ENOENT", "[abi]")
{
    ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    CHECK(errno_of([&] { dev.retrieve_session("anything"); }) == ENOENT);
}

TEST_CASE("failing requests leak no fd in the model", "[abi][leaks]")
{
    ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    Session s = dev.create_session("leaks");
    UniqueFd memfd = make_memfd("m", "x");
    s.preserve_fd(memfd.get(), 1);
    std::size_t before = model.fd_count();
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    for (int i = 0; i < 50; ++i) {
        CHECK(errno_of([&] { s.preserve_fd(null.get(), 100 + i); }) == ENOENT);
        CHECK(errno_of([&] { s.preserve_fd(memfd.get(), 200 + i); }) == EBUSY);
        CHECK(errno_of([&] { dev.create_session("leaks"); }) == EEXIST);
        CHECK(errno_of([&] { dev.retrieve_session("none"); }) == ENOENT);
        CHECK(errno_of([&] { Device::open(model.root()); }) == EBUSY);
    }
    CHECK(model.fd_count() == before);
}

TEST_CASE("garbage on the model's sockets is refused without harm", "[abi][robustness]")
{
    ModelProcess model({"7.2"});
    auto send_raw = [&](const std::filesystem::path& path, const std::string& bytes) {
        UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
            (void)!::send(sock.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    };
    KernelPaths paths(model.root());
    for (const std::string& junk : {std::string(), std::string("x"), std::string(24, '\xff'), std::string(5000, 'A')}) {
        send_raw(paths.model_syscall(), junk);
        send_raw(paths.device(), junk);
    }
    // Raw datagrams without a reply socket on an open device and session.
    Device dev = Device::open(model.root());
    Session s = dev.create_session("junk");
    for (int fd : {dev.fd(), s.fd()}) {
        model_wire::RequestHeader h{model_wire::kMagic, model_wire::kVersion, 0, uapi::kIoctlCreateSession, 0, 0};
        (void)!::send(fd, &h, sizeof h, MSG_NOSIGNAL);
        (void)!::send(fd, "short", 5, MSG_NOSIGNAL);
    }
    CHECK(model.alive());
    CHECK(s.get_name() == "junk");
    CHECK_NOTHROW(dev.create_session("still-works"));
}

TEST_CASE("the model says when a memfd's size is frozen: preserved in an outgoing session, until it is closed",
          "[abi][preload]")
{
    ModelProcess model({"7.2"});
    auto frozen = [&](int fd) {
        int fds[] = {fd};
        return model::syscall_request(model.root(), model_wire::kSysSizeFrozen, {}, fds);
    };
    Device dev = Device::open(model.root());
    UniqueFd memfd = make_memfd("m", "x");
    UniqueFd unrelated = make_memfd("other", "y");
    CHECK(frozen(memfd.get()) == 0);
    Session s = dev.create_session("frozen");
    s.preserve_fd(memfd.get(), 1);
    CHECK(frozen(memfd.get()) == 1);
    UniqueFd reopened(::open(("/proc/self/fd/" + std::to_string(memfd.get())).c_str(), O_RDWR | O_CLOEXEC));
    CHECK(frozen(reopened.get()) == 1);  // the inode is frozen, not one open file
    CHECK(frozen(unrelated.get()) == 0);
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    UniqueFd r(p[0]), w(p[1]);
    CHECK(frozen(r.get()) == 0);
    s = Session();  // closing the session unpreserves
    CHECK(frozen(memfd.get()) == 0);
}
