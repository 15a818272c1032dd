// SPDX-License-Identifier: Apache-2.0
// The kernel's two-stage kexec selftests (docs/kernel-abi.md §8.2) and the rest of the kexec path
// on luo-kernel-model: stage 1 runs in a child that keeps its session fds and is ended by
// the model's kexec like the selftests' sleeping child; stage 2 runs in the next kernel.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luo_catch.h"
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "harness.h"
#include "luo/device.h"
#include "luo/error.h"
#include "luo/kexec.h"
#include "luo/model_control.h"
#include "luo/paths.h"
#include "luo/uapi.h"
#include "profiles.h"

using namespace luo;
using namespace luo::test;

namespace {

void expect(bool ok, const char* what)
{
    if (!ok)
        throw std::runtime_error(what);
}

// Stage 1 of a selftest in a child: checks it is stage 1 (no state session to retrieve),
// runs `setup`, stores "2" in the state session and keeps every session fd open until the
// kexec ends it. Returns the child's pid once the setup is done.
pid_t run_stage1(ModelProcess& model, const std::string& state_session, std::uint64_t state_token,
                 std::function<void(Device&, std::vector<Session>&)> setup)
{
    ReadySignal ready;
    pid_t pid = spawn([&]() -> int {
        Device dev = Device::open(model.root());
        expect(errno_of([&] { dev.retrieve_session(state_session); }) == ENOENT, "not stage 1");
        std::vector<Session> keep;
        setup(dev, keep);
        Session state = dev.create_session(state_session);
        UniqueFd memfd = make_memfd("state", "2");
        state.preserve_fd(memfd.get(), state_token);
        keep.push_back(std::move(state));
        dev.close();
        ready.notify();
        sleep_forever();
    });
    REQUIRE(ready.wait());
    return pid;
}

// Kexecs into `profile` and checks the stage-1 child was ended by it.
void kexec(ModelProcess& model, pid_t stage1, const std::string& profile)
{
    model.load_kernel(profile);
    REQUIRE(model.kexec_reboot() == 0);
    CHECK(wait_exit(stage1) == 128 + SIGKILL);
}

// Stage 2's check of the state session; returns it for the final FINISH.
Session check_state(Device& dev, const std::string& state_session, std::uint64_t state_token)
{
    Session state = dev.retrieve_session(state_session);
    UniqueFd memfd = state.retrieve_fd(state_token);
    CHECK(read_all(memfd.get()) == "2");
    return state;
}

void preserve_text(Session& s, std::uint64_t token, const std::string& text)
{
    UniqueFd memfd = make_memfd("data", text);
    s.preserve_fd(memfd.get(), token);
}

// A new session of `count` files: token i holds prefix + i.
Session numbered_files(Device& dev, const std::string& name, std::uint64_t count, const std::string& prefix)
{
    Session s = dev.create_session(name);
    for (std::uint64_t token = 0; token < count; ++token)
        preserve_text(s, token, prefix + std::to_string(token));
    return s;
}

std::string retrieve_text(Session& s, std::uint64_t token)
{
    UniqueFd fd = s.retrieve_fd(token);
    return read_all(fd.get());
}

nlohmann::json model_status(const ModelProcess& model)
{
    return nlohmann::json::parse(model::status_json(model.root()));
}

std::string read_text(const std::filesystem::path& p)
{
    std::ifstream in(p);
    std::string s;
    std::getline(in, s);
    return s;
}

std::uint64_t splitmix64(std::uint64_t& x)
{
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

std::uint64_t checksum(const std::uint64_t* words, std::size_t n)
{
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < n; ++i)
        h = (h ^ words[i]) * 0x100000001b3ull;
    return h;
}

}  // namespace

TEMPLATE_TEST_CASE("luo_kexec_simple: a memfd's contents survive a kexec and the session finishes", "[selftest][kexec]",
                   LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    pid_t stage1 = run_stage1(model, "kexec_simple_state", 999, [](Device& dev, std::vector<Session>& keep) {
        Session s = dev.create_session("test-session");
        preserve_text(s, 0x1A, "hello kexec world");
        keep.push_back(std::move(s));
    });
    kexec(model, stage1, TestType::name);

    Device dev = Device::open(model.root());
    Session state = check_state(dev, "kexec_simple_state", 999);
    Session s = dev.retrieve_session("test-session");
    CHECK(retrieve_text(s, 0x1A) == "hello kexec world");
    CHECK_NOTHROW(s.finish());
    CHECK_NOTHROW(state.finish());
    INFO("--- SIMPLE KEXEC TEST PASSED ---");
}

TEMPLATE_TEST_CASE("luo_multi_session: empty sessions and sessions with files survive a kexec and finish",
                   "[selftest][kexec]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    pid_t stage1 = run_stage1(model, "kexec_multi_state", 998, [](Device& dev, std::vector<Session>& keep) {
        keep.push_back(dev.create_session("multi-test-empty-1"));
        keep.push_back(dev.create_session("multi-test-empty-2"));
        Session f1 = dev.create_session("multi-test-files-1");
        preserve_text(f1, 0x1001, "Data for session files 1");
        Session f2 = dev.create_session("multi-test-files-2");
        preserve_text(f2, 0x2002, "First file for session files 2");
        preserve_text(f2, 0x3003, "Second file for session files 2");
        keep.push_back(std::move(f1));
        keep.push_back(std::move(f2));
    });
    kexec(model, stage1, TestType::name);

    Device dev = Device::open(model.root());
    Session state = check_state(dev, "kexec_multi_state", 998);
    Session e1 = dev.retrieve_session("multi-test-empty-1");
    Session e2 = dev.retrieve_session("multi-test-empty-2");
    Session f1 = dev.retrieve_session("multi-test-files-1");
    Session f2 = dev.retrieve_session("multi-test-files-2");
    CHECK(retrieve_text(f1, 0x1001) == "Data for session files 1");
    CHECK(retrieve_text(f2, 0x2002) == "First file for session files 2");
    CHECK(retrieve_text(f2, 0x3003) == "Second file for session files 2");
    for (Session* s : {&e1, &e2, &f1, &f2, &state})
        CHECK_NOTHROW(s->finish());
}

TEST_CASE("luo_stress_sessions - kernel_7_2 (2000 sessions)", "[selftest][kexec][7.2]")
{
    raise_fd_limit(8192);
    ModelProcess model({"7.2"});
    pid_t stage1 = run_stage1(model, "kexec_many_state", 999, [](Device& dev, std::vector<Session>& keep) {
        for (int i = 0; i < 2000; ++i)
            keep.push_back(dev.create_session("many-test-" + std::to_string(i)));
    });
    kexec(model, stage1, "7.2");

    Device dev = Device::open(model.root());
    Session state = check_state(dev, "kexec_many_state", 999);
    int finished = 0;
    for (int i = 0; i < 2000; ++i) {
        Session s = dev.retrieve_session("many-test-" + std::to_string(i));
        s.finish();
        ++finished;
    }
    CHECK(finished == 2000);
    CHECK_NOTHROW(state.finish());
}

TEST_CASE("luo_stress_files - kernel_7_2 (500 files)", "[selftest][kexec][7.2]")
{
    raise_fd_limit(8192);
    ModelProcess model({"7.2"});
    pid_t stage1 = run_stage1(model, "kexec_many_files_state", 9999, [](Device& dev, std::vector<Session>& keep) {
        keep.push_back(numbered_files(dev, "many_files_session", 500, "file-data-"));
    });
    kexec(model, stage1, "7.2");

    Device dev = Device::open(model.root());
    Session state = check_state(dev, "kexec_many_files_state", 9999);
    Session s = dev.retrieve_session("many_files_session");
    int matching = 0;
    for (std::uint64_t token = 0; token < 500; ++token)
        matching += retrieve_text(s, token) == "file-data-" + std::to_string(token);
    CHECK(matching == 500);
    CHECK_NOTHROW(s.finish());
    CHECK_NOTHROW(state.finish());
}

TEST_CASE("a 7.1 kernel's 128 files survive its kexec whatever the 7.2 block limit is set to", "[kexec][7.1]")
{
    // Found by fuzzing: --max-blocks was applied to every profile's restore, so a session
    // a 7.1 kernel had accepted (128 files, three 63-entry blocks) could not come back.
    ModelProcess model({"7.1", "kho=on liveupdate=on", {"--max-blocks", "2"}});
    pid_t stage1 = run_stage1(model, "limit_state", 1, [](Device& dev, std::vector<Session>& keep) {
        keep.push_back(numbered_files(dev, "full_session", 128, "file-"));
    });
    kexec(model, stage1, "7.1");

    Device dev = Device::open(model.root());
    Session state = check_state(dev, "limit_state", 1);
    Session s = dev.retrieve_session("full_session");
    CHECK(retrieve_text(s, 127) == "file-127");
    CHECK_NOTHROW(s.finish());
    CHECK_NOTHROW(state.finish());
}

TEST_CASE("a 1 GiB memfd survives a model kexec with its checksum intact", "[kexec][large]")
{
    constexpr std::size_t kSize = std::size_t{1} << 30;
    ModelProcess model({"7.2"});
    TempDir scratch;
    auto sum_file = scratch.path() / "sum";
    pid_t stage1 = run_stage1(model, "big_state", 1, [&](Device& dev, std::vector<Session>& keep) {
        UniqueFd memfd = make_memfd("guest-ram");
        expect(::ftruncate(memfd.get(), kSize) == 0, "ftruncate");
        void* map = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd.get(), 0);
        expect(map != MAP_FAILED, "mmap");
        auto* words = static_cast<std::uint64_t*>(map);
        std::uint64_t seed = 42;
        for (std::size_t i = 0; i < kSize / 8; ++i)
            words[i] = splitmix64(seed);
        std::ofstream(sum_file) << checksum(words, kSize / 8);
        ::munmap(map, kSize);
        Session s = dev.create_session("vm-ram");
        s.preserve_fd(memfd.get(), 7);
        keep.push_back(std::move(s));
    });
    std::uint64_t expected = 0;
    std::ifstream(sum_file) >> expected;
    REQUIRE(expected != 0);
    kexec(model, stage1, "7.2");

    Device dev = Device::open(model.root());
    Session s = dev.retrieve_session("vm-ram");
    UniqueFd memfd = s.retrieve_fd(7);
    struct stat st;
    REQUIRE(::fstat(memfd.get(), &st) == 0);
    REQUIRE(static_cast<std::size_t>(st.st_size) == kSize);
    void* map = ::mmap(nullptr, kSize, PROT_READ, MAP_SHARED, memfd.get(), 0);
    REQUIRE(map != MAP_FAILED);
    CHECK(checksum(static_cast<const std::uint64_t*>(map), kSize / 8) == expected);
    ::munmap(map, kSize);
    CHECK_NOTHROW(s.finish());
}

TEMPLATE_TEST_CASE("file position and size are carried, and seals from 7.1", "[kexec]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    pid_t stage1 = run_stage1(model, "state", 1, [](Device& dev, std::vector<Session>& keep) {
        Session s = dev.create_session("positions");
        UniqueFd memfd = make_memfd("pos", "0123456789", MFD_ALLOW_SEALING);
        expect(::lseek(memfd.get(), 4, SEEK_SET) == 4, "lseek");
        expect(::fcntl(memfd.get(), F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) == 0, "seal");
        s.preserve_fd(memfd.get(), 1);
        // The position is read again at freeze: a later move still counts.
        expect(::lseek(memfd.get(), 6, SEEK_SET) == 6, "lseek");
        keep.push_back(std::move(s));
    });
    kexec(model, stage1, TestType::name);

    Device dev = Device::open(model.root());
    Session s = dev.retrieve_session("positions");
    UniqueFd fd = s.retrieve_fd(1);
    CHECK(::lseek(fd.get(), 0, SEEK_CUR) == 6);
    char buf[8] = {};
    CHECK(::read(fd.get(), buf, sizeof buf) == 4);
    CHECK(std::string(buf, 4) == "6789");
    CHECK((::fcntl(fd.get(), F_GETFL) & O_ACCMODE) == O_RDWR);
    CHECK((::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    if (TestType::v7_1) {
        CHECK(::fcntl(fd.get(), F_GET_SEALS) == (F_SEAL_GROW | F_SEAL_SHRINK));
    }
}

TEST_CASE("the kexec ends every holder of a model fd and the reboot caller, and nothing else", "[kexec]")
{
    ModelProcess model({"7.2"});
    // One process holds only a session fd it got by fork, one only a dup of the device,
    // one holds nothing of the model.
    ReadySignal device_ready, session_ready, bystander_ready;
    pid_t session_holder = spawn([&]() -> int {
        Session s;
        {
            Device dev = Device::open(model.root());
            s = dev.create_session("held-by-a-grandchild");
        }
        pid_t grandchild = ::fork();
        if (grandchild == 0) {
            ::setsid();  // out of every process group the model knows
            session_ready.notify();
            sleep_forever();
        }
        return 0;  // the session now lives only in the grandchild
    });
    CHECK(wait_exit(session_holder) == 0);
    REQUIRE(session_ready.wait());
    pid_t device_holder = spawn([&]() -> int {
        Device dev = Device::open(model.root());
        UniqueFd copy = dup_fd(dev.fd());
        dev.close();
        device_ready.notify();
        sleep_forever();
    });
    REQUIRE(device_ready.wait());
    pid_t bystander = spawn([&]() -> int {
        bystander_ready.notify();
        sleep_forever();
    });
    REQUIRE(bystander_ready.wait());

    model.load_kernel("7.2");
    REQUIRE(model.kexec_reboot() == 0);
    CHECK(wait_exit(device_holder) == 128 + SIGKILL);
    // The grandchild was ended too: its session came across.
    Device dev = Device::open(model.root());
    CHECK_NOTHROW(dev.retrieve_session("held-by-a-grandchild"));
    CHECK(::kill(bystander, 0) == 0);
    ::kill(bystander, SIGKILL);
    wait_exit(bystander);
}

TEST_CASE("reboot without a loaded kernel fails with EINVAL and changes nothing", "[kexec]")
{
    ModelProcess model({"7.2"});
    ReadySignal ready;
    pid_t holder = spawn([&]() -> int {
        Device dev = Device::open(model.root());
        Session s = dev.create_session("kept");
        ready.notify();
        sleep_forever();
    });
    REQUIRE(ready.wait());
    std::string boot = model.boot_id();
    CHECK(model.kexec_reboot() == -EINVAL);
    CHECK(model.boot_id() == boot);
    CHECK(::kill(holder, 0) == 0);
    CHECK(model_status(model)["outgoing"].size() == 1);
    ::kill(holder, SIGKILL);
    wait_exit(holder);
}

TEST_CASE("an incoming session never retrieved is not carried to the following kexec", "[kexec]")
{
    ModelProcess model({"7.2"});
    pid_t stage1 = run_stage1(model, "state", 1, [](Device& dev, std::vector<Session>& keep) {
        keep.push_back(dev.create_session("forgotten"));
    });
    kexec(model, stage1, "7.2");
    CHECK(model_status(model)["incoming"].size() == 2);
    model.load_kernel("7.2");
    REQUIRE(model.kexec_reboot() == 0);
    Device dev = Device::open(model.root());
    CHECK(errno_of([&] { dev.retrieve_session("forgotten"); }) == ENOENT);
    CHECK(model_status(model)["liveupdate_num"] == 2);
}

TEST_CASE("liveupdate state and kexec_loaded follow the update", "[kexec][state]")
{
    ModelProcess model({"7.2"});
    KernelPaths paths(model.root());
    CHECK(read_text(paths.liveupdate_state()) == "normal");
    CHECK(read_text(paths.kexec_loaded()) == "0");
    model.load_kernel("7.2", "kho=on liveupdate=on quiet");
    CHECK(read_text(paths.kexec_loaded()) == "1");
    CHECK(read_text(paths.liveupdate_state()) == "normal");  // no outgoing session yet

    pid_t stage1 = run_stage1(model, "state", 1, [](Device&, std::vector<Session>&) {});
    CHECK(read_text(paths.liveupdate_state()) == "prepared");
    REQUIRE(model.kexec_reboot() == 0);
    CHECK(wait_exit(stage1) == 128 + SIGKILL);
    CHECK(read_text(paths.liveupdate_state()) == "updated");
    CHECK(read_text(paths.kexec_loaded()) == "0");
    CHECK(read_text(paths.cmdline()) == "kho=on liveupdate=on quiet");

    Device dev = Device::open(model.root());
    Session state = dev.retrieve_session("state");
    CHECK(read_text(paths.liveupdate_state()) == "updated");
    state.finish();
    CHECK(read_text(paths.liveupdate_state()) == "normal");

    Kexec(model.root()).unload();
    CHECK(read_text(paths.kexec_loaded()) == "0");
}

TEST_CASE("incoming session semantics: retrieve, repeat retrieve, finish, close", "[kexec]")
{
    ModelProcess model({"7.2"});
    pid_t stage1 = run_stage1(model, "state", 1, [](Device& dev, std::vector<Session>& keep) {
        Session s = dev.create_session("incoming");
        preserve_text(s, 1, "one");
        preserve_text(s, 2, "two, never retrieved");
        keep.push_back(std::move(s));
        keep.push_back(dev.create_session("closed-without-finish"));
    });
    kexec(model, stage1, "7.2");
    Device dev = Device::open(model.root());

    Session s = dev.retrieve_session("incoming");
    CHECK(errno_of([&] { dev.retrieve_session("incoming"); }) == EINVAL);  // already retrieved
    UniqueFd a = s.retrieve_fd(1);
    UniqueFd b = s.retrieve_fd(1);
    // A repeat retrieve is another fd for the same open file description.
    CHECK(::lseek(a.get(), 2, SEEK_SET) == 2);
    CHECK(::lseek(b.get(), 0, SEEK_CUR) == 2);
    CHECK(errno_of([&] { s.retrieve_fd(99); }) == ENOENT);
    CHECK_NOTHROW(s.finish());
    CHECK(errno_of([&] { s.retrieve_fd(2); }) == ENOENT);  // finished: the list is empty
    CHECK_NOTHROW(s.finish());                             // finishing again is fine
    CHECK(s.get_name() == "incoming");
    CHECK(read_all(a.get()) == "one");  // retrieved files stay the caller's

    // Closing an unfinished retrieved session finishes it implicitly: it is gone.
    dev.retrieve_session("closed-without-finish");
    CHECK(errno_of([&] { dev.retrieve_session("closed-without-finish"); }) == ENOENT);

    // New outgoing sessions can be made at once, even with an incoming session's name.
    CHECK_NOTHROW(dev.create_session("incoming"));
}

namespace {

// Boot 1 preserves "ram" at token 1 of session "vm"; then the kexec into the same profile.
void kexec_with_vm_session(ModelProcess& model, const std::string& profile)
{
    pid_t stage1 = run_stage1(model, "state", 1, [](Device& dev, std::vector<Session>& keep) {
        Session s = dev.create_session("vm");
        preserve_text(s, 1, "ram");
        keep.push_back(std::move(s));
    });
    kexec(model, stage1, profile);
}

}  // namespace

TEST_CASE("a retrieved file cannot be preserved again until its session finishes - kernel_7_2", "[kexec][7.2]")
{
    ModelProcess model({"7.2"});
    kexec_with_vm_session(model, "7.2");
    Device dev = Device::open(model.root());
    Session in = dev.retrieve_session("vm");
    UniqueFd ram = in.retrieve_fd(1);
    Session out = dev.create_session("vm-next");
    CHECK(errno_of([&] { out.preserve_fd(ram.get(), 1); }) == EBUSY);
    in.finish();
    CHECK_NOTHROW(out.preserve_fd(ram.get(), 1));
}

TEMPLATE_TEST_CASE("FINISH with a non-zero reserved word is refused from 7.2 and changes nothing", "[kexec]",
                   LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    kexec_with_vm_session(model, TestType::name);
    Device dev = Device::open(model.root());
    Session in = dev.retrieve_session("vm");
    uapi::liveupdate_session_finish fin{sizeof fin, 1};
    if constexpr (TestType::v7_2) {
        CHECK(raw_ioctl(in.fd(), uapi::kSessionFinish, &fin) == -EINVAL);
        CHECK(read_all(in.retrieve_fd(1).get()) == "ram");  // nothing was finished
    } else {
        CHECK(raw_ioctl(in.fd(), uapi::kSessionFinish, &fin) == 0);  // not checked before 7.2
        CHECK(errno_of([&] { in.retrieve_fd(1); }) == ENOENT);
    }
}

TEST_CASE("a next kernel without kho=on has no LUO and the sessions are lost", "[kexec][cmdline]")
{
    ModelProcess model({"7.2"});
    pid_t stage1 = run_stage1(model, "state", 1, [](Device&, std::vector<Session>&) {});
    model.load_kernel("7.2", "liveupdate=on");  // LUO is forced off without KHO
    REQUIRE(model.kexec_reboot() == 0);
    CHECK(wait_exit(stage1) == 128 + SIGKILL);
    CHECK(errno_of([&] { Device::open(model.root()); }) == ENOENT);
    model.load_kernel("7.2", "kho=on liveupdate=on");
    REQUIRE(model.kexec_reboot() == 0);
    Device dev = Device::open(model.root());
    CHECK(errno_of([&] { dev.retrieve_session("state"); }) == ENOENT);
}

TEST_CASE("a next kernel without liveupdate=on has no device and no state file", "[kexec][cmdline]")
{
    ModelProcess model({"7.2"});
    model.load_kernel("7.2", "kho=on");
    REQUIRE(model.kexec_reboot() == 0);
    KernelPaths paths(model.root());
    CHECK(errno_of([&] { Device::open(model.root()); }) == ENOENT);
    CHECK_FALSE(std::filesystem::exists(paths.liveupdate_state()));
    // kexec still works without LUO, and the following kernel has it again.
    model.load_kernel("7.2", "kho=on liveupdate=on");
    REQUIRE(model.kexec_reboot() == 0);
    CHECK(errno_of([&] { Device::open(model.root()); }) == 0);
}

TEST_CASE("kexec_file_load validates its input like the kernel", "[kexec]")
{
    ModelProcess model({"7.2"});
    TempDir scratch;
    Kexec kexec(model.root());
    auto write = [&](const std::string& name, const std::string& text) {
        auto p = scratch.path() / name;
        std::ofstream(p) << text;
        return UniqueFd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    };
    UniqueFd bzimage = write("bzImage", "MZ\x90\x00not a model kernel");
    CHECK(errno_of([&] { kexec.load(bzimage.get(), -1, "quiet"); }) == ENOEXEC);
    UniqueFd unknown = write("unknown", "LUO-KERNEL-MODEL-IMAGE\nprofile=9.9\n");
    CHECK(errno_of([&] { kexec.load(unknown.get(), -1, "quiet"); }) == ENOEXEC);
    UniqueFd good = write("good", "LUO-KERNEL-MODEL-IMAGE\nprofile=7.2\n");
    CHECK(errno_of([&] { kexec.load(good.get(), -1, std::string(3000, 'x')); }) == EINVAL);
    CHECK(errno_of([&] { kexec.load(good.get(), -1, "quiet", 0x100); }) == EINVAL);
    CHECK(kexec.loaded() == false);
    UniqueFd initrd = write("initrd", "initramfs");
    CHECK_NOTHROW(kexec.load(good.get(), initrd.get(), "quiet"));
    CHECK(kexec.loaded());
    CHECK_NOTHROW(kexec.unload());
    CHECK_FALSE(kexec.loaded());
    CHECK(model.alive());
}

TEST_CASE("only root reaches the device and the kexec system calls", "[kexec][security]")
{
    ModelProcess model({"7.2"});
    int status = run_in_child([&] {
        if (::setresgid(65534, 65534, 65534) < 0 || ::setresuid(65534, 65534, 65534) < 0)
            return 90;
        if (errno_of([&] { Device::open(model.root()); }) != EACCES)
            return 1;
        if (errno_of([&] { Kexec(model.root()).unload(); }) != EACCES)
            return 2;
        return 0;
    });
    CHECK(status == 0);
    struct stat st;
    REQUIRE(::stat(KernelPaths(model.root()).device().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat(KernelPaths(model.root()).model_syscall().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
}
