// SPDX-License-Identifier: Apache-2.0
// The vfio-pci-v1 handler model over fake devices: freeze failures abort the kexec with
// every session intact, cdev-only preservation, FINISH ordering and sticky retrieve errors.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "luo_catch.h"
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

constexpr const char* kBdf = "0000:00:04.0";

// A VMM-like child holding its sessions until the kexec ends it. With `split`, the memfd
// goes into "vm-ram" (made first) and the device into "vm-dev"; otherwise both into "vm",
// the memfd only when `with_memfd`.
pid_t start_vmm(ModelProcess& model, const std::filesystem::path& cdev, bool split = true, bool with_memfd = true)
{
    ReadySignal ready;
    pid_t pid = spawn([&]() -> int {
        Device dev = Device::open(model.root());
        Session ram = dev.create_session(split ? "vm-ram" : "vm");
        if (with_memfd) {
            UniqueFd memfd = make_memfd("ram", split ? "guest memory" : "ram");
            ram.preserve_fd(memfd.get(), 1);
        }
        Session devs = split ? dev.create_session("vm-dev") : Session();
        UniqueFd vfio(::open(cdev.c_str(), O_RDWR | O_CLOEXEC));
        (split ? devs : ram).preserve_fd(vfio.get(), 2);
        dev.close();
        ready.notify();
        sleep_forever();
    });
    REQUIRE(ready.wait());
    return pid;
}

// Kexecs with a VMM child holding a vfio device (see start_vmm).
void kexec_with_vmm(ModelProcess& model, const std::string& profile, bool with_memfd)
{
    auto cdev = model::vfio_create(model.root(), kBdf);
    pid_t vmm = start_vmm(model, cdev, false, with_memfd);
    model.load_kernel(profile);
    REQUIRE(model.kexec_reboot() == 0);
    CHECK(wait_exit(vmm) == 128 + SIGKILL);
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
    kexec_with_vmm(model, "7.2", true);

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
    kexec_with_vmm(model, "7.2", false);

    Device dev = Device::open(model.root());
    dev.retrieve_session("vm");  // closed at once, device never retrieved
    CHECK(errno_of([&] { dev.retrieve_session("vm"); }) == EINVAL);
    CHECK(status(model)["incoming"].size() == 1);
}

TEMPLATE_TEST_CASE("a failed retrieve is sticky from 7.0 and retried on 6.19", "[vfio][kexec]", LUO_ALL_KERNELS)
{
    ModelProcess model({TestType::name});
    kexec_with_vmm(model, TestType::name, false);

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
