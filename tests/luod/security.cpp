// SPDX-License-Identifier: Apache-2.0
// What luod opens on a caller's word, and what luod and the model leave on disk: LoadKernel
// takes only root-controlled regular files and never a /proc magic link into luod's own fds;
// nothing the model or luoctl creates may be written by other users, and the model's sockets
// admit their owner alone.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luo_catch.h"
#include <filesystem>
#include <fstream>
#include "luo-dbus/sdbus_compat.h"

#include "fixture.h"
#include "luo/client.h"
#include "luo/dbus_api.h"
#include "luo/paths.h"

using namespace luo;
using namespace luo::test;
namespace err = luo::dbus::error;
namespace fs = std::filesystem;
using Options = std::map<std::string, sdbus::Variant>;

namespace {

DbusFailure load_kernel(Luod& t, const std::string& path)
{
    return dbus_failure_of([&] {
        t.client.manager().callMethod("LoadKernel").onInterface(dbus::kManagerInterface)
            .withArguments(path, std::string(), std::string(), Options{});
    });
}

std::vector<int> open_fds_of(pid_t pid)
{
    std::vector<int> fds;
    for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
        fds.push_back(std::stoi(entry.path().filename().native()));
    return fds;
}

// Every path under `root` that users other than its owner could write or connect to.
std::vector<std::string> open_to_others(const fs::path& root)
{
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        struct stat st;
        if (::lstat(entry.path().c_str(), &st) != 0 || S_ISLNK(st.st_mode))
            continue;
        bool sticky_dir = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX);
        // Connecting to a socket takes write permission on it.
        mode_t too_open = S_ISSOCK(st.st_mode) ? (S_IRWXG | S_IRWXO) : (S_IWGRP | S_IWOTH);
        if ((st.st_mode & too_open) && !sticky_dir)
            found.push_back(entry.path().native() + " (mode " + std::to_string(st.st_mode & 07777) + ")");
    }
    return found;
}

}  // namespace

TEST_CASE("LoadKernel follows plain symlinks but no /proc magic link, and boots only images root alone can write",
          "[luod][security]")
{
    Luod t;
    TempDir scratch("luod-security");
    fs::path image = scratch.path() / "vmlinuz-7.2";
    model::write_kernel_image(image, "7.2");
    REQUIRE(::chmod(image.c_str(), 0644) == 0);

    SECTION("through /proc magic links, none of luod's own fds and none of the caller's is opened")
    {
        std::vector<int> luod_fds = open_fds_of(t.luod.pid());
        REQUIRE(luod_fds.size() > 3);
        for (int fd : luod_fds) {
            INFO("luod's fd " << fd);
            DbusFailure f = load_kernel(t, "/proc/self/fd/" + std::to_string(fd));
            CHECK(f.name == err::kInvalidArgs);
        }
        // A root-owned 0644 kernel image, named through the caller's fd table.
        UniqueFd fd(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
        DbusFailure f = load_kernel(t, "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd.get()));
        CHECK(f.name == err::kInvalidArgs);
        CHECK(f.message.find("magic link") != std::string::npos);
        CHECK(t.client.manager_string("State") == "idle");
    }

    SECTION("an image others may write is refused, whoever owns it")
    {
        struct Case {
            mode_t mode;
            uid_t owner;
        };
        for (Case c : {Case{0666, 0}, Case{0664, 0}, Case{0646, 0}, Case{0644, nobody_uid()}, Case{0600, other_uid()}}) {
            INFO("mode " << std::oct << c.mode << std::dec << ", owner " << c.owner);
            fs::path risky = scratch.path() / ("risky-" + std::to_string(c.mode) + "-" + std::to_string(c.owner));
            fs::copy_file(image, risky);
            REQUIRE(::chmod(risky.c_str(), c.mode) == 0);
            REQUIRE(::chown(risky.c_str(), c.owner, 0) == 0);
            DbusFailure f = load_kernel(t, risky.native());
            CHECK(f.name == err::kInvalidArgs);
            CHECK(f.message.find("users other than root") != std::string::npos);
            CHECK(t.client.manager_string("State") == "idle");
        }
    }

    SECTION("a symlink to a root-owned image, as /boot/vmlinuz is, loads")
    {
        fs::path link = scratch.path() / "vmlinuz";
        fs::create_symlink(image.filename(), link);
        DbusFailure f = load_kernel(t, link.native());
        CHECK(f.name.empty());
        CHECK(t.client.manager_string("State") == "loaded");
        std::ifstream loaded(KernelPaths(t.model.root()).kexec_loaded());
        CHECK(loaded.get() == '1');
    }
}

TEST_CASE("after a whole update nothing the model, luod or luoctl made is writable by others", "[luod][security]")
{
    Luod t({}, machine());
    TempDir scratch("luod-security");
    {
        ClientSession s = Client::connect(t.bus.address()).create_session("vm");
        UniqueFd memfd = make_memfd("guest", "guest memory");
        s.preserve({{memfd.get(), "ram"}});
    }
    t.client.load_kernel(t.kernel_image());
    std::string boot = t.model.boot_id();
    t.client.manager().callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(Options{});
    t.next_boot(boot);
    REQUIRE(t.client.list_session_names() == std::vector<std::string>{"vm"});
    fs::path metrics = scratch.path() / "textfile" / "luod.prom";
    fs::create_directory(metrics.parent_path());
    ProgramResult r = run_program({built_program("luoctl").native(), "metrics", "--output", metrics.native()},
                                  {"DBUS_SYSTEM_BUS_ADDRESS=" + t.bus.address()});
    REQUIRE(r.status == 0);

    std::vector<std::string> model_open = open_to_others(t.model.root());
    INFO("model root " << t.model.root());
    CHECK(model_open.empty());
    for (const auto& path : model_open)
        WARN(path);
    struct stat st;
    REQUIRE(::stat(metrics.c_str(), &st) == 0);
    // Readable by node_exporter's user, writable by root alone.
    CHECK((st.st_mode & 07777) == 0644);
    // The device socket, the one door to the model's kernel state, is root's alone.
    REQUIRE(::stat((t.model.root() / "dev" / "liveupdate").c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(st.st_uid == 0);
}
