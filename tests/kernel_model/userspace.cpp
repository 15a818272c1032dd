// SPDX-License-Identifier: Apache-2.0
// The model's simulated userspace: what it starts (--init), what it ends at a kexec
// (--kill-pgid, --kill-cgroup, the init group; --reboot-hook first), and its command line.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "luo_catch.h"
#include <fstream>
#include <sstream>

#include "eventually.h"
#include "harness.h"

using namespace luo;
using namespace luo::test;

namespace {

// A child in its own process group that holds nothing of the model.
pid_t idle_group_leader(ReadySignal& ready)
{
    return spawn([&]() -> int {
        ::setpgid(0, 0);
        ready.notify();
        sleep_forever();
    });
}

int run_model_cli(const std::vector<std::string>& args)
{
    return run_in_child([&] {
        std::vector<std::string> all{built_program("luo-kernel-model").native()};
        all.insert(all.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : all)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::execv(argv[0], argv.data());
        return 127;
    });
}

}  // namespace

TEST_CASE("the kill-pgid option ends that process group at a kexec", "[userspace][kexec]")
{
    ReadySignal ready;
    pid_t leader = idle_group_leader(ready);
    REQUIRE(ready.wait());
    ModelProcess model({"7.2", "kho=on liveupdate=on", {"--kill-pgid", std::to_string(leader)}});
    model.load_kernel("7.2");
    REQUIRE(model.kexec_reboot() == 0);
    CHECK(wait_exit(leader) == 128 + SIGKILL);
}

TEST_CASE("the kill-cgroup option ends every process of that cgroup at a kexec", "[userspace][kexec]")
{
    Cgroup cgroup;  // CI runs as root with a cgroup2 mount
    ReadySignal ready;
    pid_t member = idle_group_leader(ready);
    REQUIRE(ready.wait());
    cgroup.add(member);
    ModelProcess model({"7.2", "kho=on liveupdate=on", {"--kill-cgroup", cgroup.path().native()}});
    model.load_kernel("7.2");
    REQUIRE(model.kexec_reboot() == 0);
    CHECK(wait_exit(member) == 128 + SIGKILL);
}

TEST_CASE("the init option starts init at every boot and its group is ended at each kexec, after the reboot hook",
          "[userspace][kexec]")
{
    TempDir scratch;
    auto boots = scratch.path() / "boots";
    auto hook = scratch.path() / "hook";
    auto pids = scratch.path() / "pids";
    // Each boot appends its number, then lingers in a child of its own group.
    std::string init = "echo $LUO_MODEL_BOOT >> " + boots.native() + "; sleep 1000 & echo $! >> " + pids.native() +
                       "; wait";
    ModelProcess model({"7.2", "kho=on liveupdate=on", {"--init", init, "--reboot-hook", "echo ran >> " + hook.native()}});
    auto lines = [&] {
        std::ifstream in(boots);
        std::vector<std::string> out;
        for (std::string l; std::getline(in, l);)
            out.push_back(l);
        return out;
    };
    // init runs asynchronously to the harness
    REQUIRE(eventually([&] { return !lines().empty(); }));
    CHECK(lines() == std::vector<std::string>{"1"});
    model.load_kernel("7.2");
    REQUIRE(model.kexec_reboot() == 0);
    REQUIRE(eventually([&] { return lines().size() >= 2; }));
    CHECK(lines() == std::vector<std::string>{"1", "2"});
    std::ifstream in(hook);
    std::string ran;
    CHECK((in >> ran && ran == "ran"));
    // Boot 1's lingering child was ended with its group; boot 2's still runs.
    auto running = [](pid_t pid) {
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string pid_field, comm, state;
        return stat >> pid_field >> comm >> state && state != "Z";
    };
    std::vector<pid_t> sleepers;
    REQUIRE(eventually([&] {
        sleepers.clear();
        std::ifstream pid_file(pids);
        for (pid_t p; pid_file >> p;)
            sleepers.push_back(p);
        return sleepers.size() >= 2;
    }));
    REQUIRE(sleepers.size() == 2);
    CHECK_FALSE(running(sleepers[0]));
    CHECK(running(sleepers[1]));
}

TEST_CASE("luo-kernel-model's command line: help, usage errors and profiles", "[userspace][cli]")
{
    CHECK(run_model_cli({"--help"}) == 0);
    CHECK(run_model_cli({}) == 2);                                     // --root is required
    CHECK(run_model_cli({"--root", "/tmp/x", "--profile", "5.0"}) == 2);  // unknown profile
    CHECK(run_model_cli({"--root", "/tmp/x", "--bogus"}) == 2);
    CHECK(run_model_cli({"--root", "/tmp/x", "--max-blocks", "0"}) == 2);
}
