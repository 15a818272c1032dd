// SPDX-License-Identifier: Apache-2.0
// The vfio-pci-v1 handler model over fake devices: freeze failures abort the kexec with
// every session intact, cdev-only preservation, FINISH ordering and sticky retrieve errors.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "harness.h"
#include "luo/device.h"
#include "luo/error.h"
#include "luo/model_control.h"
#include "luo/paths.h"
#include "profiles.h"

using namespace luo;
using namespace luo::test;

namespace {

template <typename F>
int errno_of(F&& f)
{
    try {
        f();
        return 0;
    } catch (const Error& e) {
        return e.errno_value();
    }
}

constexpr const char* kBdf = "0000:00:04.0";

// A VMM-like child: memfd in "vm-ram" (made first), the vfio device in "vm-dev", kept
// until the kexec ends it.
pid_t start_vmm(ModelProcess& model, const std::filesystem::path& cdev)
{
    ReadySignal ready;
    pid_t pid = spawn([&]() -> int {
        Device dev = Device::open(model.root());
        Session ram = dev.create_session("vm-ram");
        UniqueFd memfd = make_memfd("ram", "guest memory");
        ram.preserve_fd(memfd.get(), 1);
        Session devs = dev.create_session("vm-dev");
        UniqueFd vfio(::open(cdev.c_str(), O_RDWR | O_CLOEXEC));
        devs.preserve_fd(vfio.get(), 2);
        dev.close();
        ready.notify();
        sleep_forever();
    });
    REQUIRE(ready.wait());
    return pid;
}

nlohmann::json status(const ModelProcess& model) { return nlohmann::json::parse(model::status_json(model.root())); }

std::string interrupts(const ModelProcess& model)
{
    std::ifstream in(KernelPaths(model.root()).interrupts());
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("a vfio device with interrupts enabled fails the kexec with EINVAL, every session intact, and a retry "
          "after disabling them succeeds",
          "[vfio][kexec]")
{
    ModelProcess model({"7.2"});
    auto cdev = model::vfio_create(model.root(), kBdf);
    model::vfio_set_irqs(model.root(), kBdf, true);
    CHECK(interrupts(model).find("vfio-msix[0](0000:00:04.0)") != std::string::npos);
    pid_t vmm = start_vmm(model, cdev);
    model.load_kernel("7.2");
    std::string boot = model.boot_id();
    auto before = status(model)["outgoing"];

    CHECK(model.kexec_reboot() == -EINVAL);
    CHECK(model.boot_id() == boot);
    CHECK(::kill(vmm, 0) == 0);  // userspace was not touched
    CHECK(status(model)["outgoing"] == before);
    CHECK(status(model)["state"] == "prepared");

    model::vfio_set_irqs(model.root(), kBdf, false);
    REQUIRE(model.kexec_reboot() == 0);
    CHECK(wait_exit(vmm) == 128 + SIGKILL);
    Device dev = Device::open(model.root());
    Session ram = dev.retrieve_session("vm-ram");
    CHECK(read_all(ram.retrieve_fd(1).get()) == "guest memory");
    Session devs = dev.retrieve_session("vm-dev");
    UniqueFd vfio = devs.retrieve_fd(2);
    CHECK(vfio.valid());
    CHECK_NOTHROW(devs.finish());
    CHECK_NOTHROW(ram.finish());
}

TEST_CASE("a vfio device not in D0 fails the kexec with EINVAL", "[vfio][kexec]")
{
    ModelProcess model({"7.2"});
    auto cdev = model::vfio_create(model.root(), kBdf);
    model::vfio_set_power(model.root(), kBdf, 3);
    pid_t vmm = start_vmm(model, cdev);
    model.load_kernel("7.2");
    CHECK(model.kexec_reboot() == -EINVAL);
    model::vfio_set_power(model.root(), kBdf, 0);
    CHECK(model.kexec_reboot() == 0);
    CHECK(wait_exit(vmm) == 128 + SIGKILL);
}

TEST_CASE("only the vfio cdev can be preserved, not its group node, and only once", "[vfio]")
{
    ModelProcess model({"7.2"});
    auto cdev = model::vfio_create(model.root(), kBdf);
    auto group = model.root() / "dev/vfio/0";
    REQUIRE(std::filesystem::exists(group));
    Device dev = Device::open(model.root());
    Session s = dev.create_session("devices");
    UniqueFd group_fd(::open(group.c_str(), O_RDWR | O_CLOEXEC));
    CHECK(errno_of([&] { s.preserve_fd(group_fd.get(), 1); }) == ENOENT);
    UniqueFd a(::open(cdev.c_str(), O_RDWR | O_CLOEXEC));
    UniqueFd b(::open(cdev.c_str(), O_RDWR | O_CLOEXEC));
    CHECK_NOTHROW(s.preserve_fd(a.get(), 2));
    CHECK(errno_of([&] { s.preserve_fd(b.get(), 3); }) == EBUSY);
    CHECK(errno_of([&] { model::vfio_create(model.root(), kBdf); }) == EEXIST);
    CHECK(errno_of([&] { model::vfio_create(model.root(), "not-a-bdf"); }) == EINVAL);
}

TEST_CASE("FINISH is all or nothing: EBUSY until the vfio device is retrieved", "[vfio][kexec]")
{
    ModelProcess model({"7.2"});
    auto cdev = model::vfio_create(model.root(), kBdf);
    ReadySignal ready;
    pid_t vmm = spawn([&]() -> int {
        Device dev = Device::open(model.root());
        Session s = dev.create_session("vm");
        UniqueFd memfd = make_memfd("ram", "ram");
        s.preserve_fd(memfd.get(), 1);
        UniqueFd vfio(::open(cdev.c_str(), O_RDWR | O_CLOEXEC));
        s.preserve_fd(vfio.get(), 2);
        ready.notify();
        sleep_forever();
    });
    REQUIRE(ready.wait());
    model.load_kernel("7.2");
    REQUIRE(model.kexec_reboot() == 0);
    wait_exit(vmm);

    Device dev = Device::open(model.root());
    Session s = dev.retrieve_session("vm");
    CHECK(errno_of([&] { s.finish(); }) == EBUSY);
    // Nothing was finished: the memfd is still there.
    CHECK(read_all(s.retrieve_fd(1).get()) == "ram");
    UniqueFd vfio = s.retrieve_fd(2);
    CHECK_NOTHROW(s.finish());
}

TEST_CASE("closing a session whose implicit finish fails keeps it listed and unretrievable", "[vfio][kexec]")
{
    ModelProcess model({"7.2"});
    auto cdev = model::vfio_create(model.root(), kBdf);
    ReadySignal ready;
    pid_t vmm = spawn([&]() -> int {
        Device dev = Device::open(model.root());
        Session s = dev.create_session("vm");
        UniqueFd vfio(::open(cdev.c_str(), O_RDWR | O_CLOEXEC));
        s.preserve_fd(vfio.get(), 2);
        ready.notify();
        sleep_forever();
    });
    REQUIRE(ready.wait());
    model.load_kernel("7.2");
    REQUIRE(model.kexec_reboot() == 0);
    wait_exit(vmm);

    Device dev = Device::open(model.root());
    dev.retrieve_session("vm");  // closed at once, device never retrieved
    CHECK(errno_of([&] { dev.retrieve_session("vm"); }) == EINVAL);
    CHECK(status(model)["incoming"].size() == 1);
}

TEMPLATE_TEST_CASE("a failed retrieve is sticky from 7.0 and retried on 6.19", "[vfio][kexec]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    auto cdev = model::vfio_create(model.root(), kBdf);
    ReadySignal ready;
    pid_t vmm = spawn([&]() -> int {
        Device dev = Device::open(model.root());
        Session s = dev.create_session("vm");
        UniqueFd vfio(::open(cdev.c_str(), O_RDWR | O_CLOEXEC));
        s.preserve_fd(vfio.get(), 2);
        ready.notify();
        sleep_forever();
    });
    REQUIRE(ready.wait());
    model.load_kernel(TestType::name);
    REQUIRE(model.kexec_reboot() == 0);
    wait_exit(vmm);

    model::vfio_remove(model.root(), kBdf);  // hot-unplugged before the VMM came back
    Device dev = Device::open(model.root());
    Session s = dev.retrieve_session("vm");
    CHECK(errno_of([&] { s.retrieve_fd(2); }) == ENODEV);
    model::vfio_create(model.root(), kBdf);  // plugged in again
    if (std::string(TestType::name) == "6.19")
        CHECK(errno_of([&] { s.retrieve_fd(2); }) == 0);
    else
        CHECK(errno_of([&] { s.retrieve_fd(2); }) == ENODEV);
}
