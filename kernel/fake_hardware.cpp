// SPDX-License-Identifier: Apache-2.0
#include "fake_hardware.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "fs_util.h"
#include "luo/error.h"
#include "luo/unique_fd.h"

namespace luo::kmodel {

namespace {

std::filesystem::path registry_path(const std::filesystem::path& root)
{
    return root / "run/luo-kernel-model/hardware.json";
}

}  // namespace

std::optional<PciAddress> PciAddress::parse(const std::string& bdf)
{
    unsigned domain, bus, dev, fn;
    char tail;
    if (bdf.size() != 12 || std::sscanf(bdf.c_str(), "%4x:%2x:%2x.%1x%c", &domain, &bus, &dev, &fn, &tail) != 4)
        return std::nullopt;
    if (dev > 31 || fn > 7)
        return std::nullopt;
    return PciAddress{domain, static_cast<std::uint8_t>(bus), static_cast<std::uint8_t>(dev << 3 | fn)};
}

std::string PciAddress::str() const
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04x:%02x:%02x.%x", domain, bus, devfn >> 3, devfn & 7);
    return buf;
}

FakeHardware::FakeHardware(std::filesystem::path root) : root_(std::move(root)) {}

void FakeHardware::boot()
{
    devices_.clear();
    std::error_code ec;
    if (std::filesystem::exists(registry_path(root_), ec)) {
        auto doc = nlohmann::json::parse(read_file(registry_path(root_)), nullptr, false);
        if (doc.is_discarded() || !doc.is_array())
            throw_errno(EINVAL, "corrupt " + registry_path(root_).native());
        for (const auto& j : doc) {
            auto addr = PciAddress::parse(j.value("bdf", ""));
            if (!addr)
                throw_errno(EINVAL, "corrupt " + registry_path(root_).native());
            FakeVfioDevice d;
            d.address = *addr;
            d.index = j.value("index", 0u);
            d.irqs_enabled = j.value("irqs_enabled", false);
            d.power_state = j.value("power_state", 0u);
            d.present = j.value("present", true);
            devices_.push_back(d);
        }
    }
    save_and_render();
}

FakeVfioDevice& FakeHardware::find(const std::string& bdf)
{
    auto addr = PciAddress::parse(bdf);
    if (!addr)
        throw_errno(EINVAL, "bad PCI address '" + bdf + "'");
    for (auto& d : devices_)
        if (d.address == *addr && d.present)
            return d;
    throw_errno(ENODEV, "no device " + bdf);
}

std::string FakeHardware::create(const std::string& bdf)
{
    auto addr = PciAddress::parse(bdf);
    if (!addr)
        throw_errno(EINVAL, "bad PCI address '" + bdf + "'");
    unsigned index = 0;
    for (auto& d : devices_) {
        if (d.address == *addr) {
            if (d.present)
                throw_errno(EEXIST, "device " + bdf + " exists");
            d.present = true;  // plugged in again: same slot, same cdev
            d.irqs_enabled = false;
            d.power_state = 0;
            save_and_render();
            return cdev_path(d).lexically_relative(root_).native();
        }
        index = std::max(index, d.index + 1);
    }
    FakeVfioDevice d;
    d.address = *addr;
    d.index = index;
    devices_.push_back(d);
    save_and_render();
    return cdev_path(devices_.back()).lexically_relative(root_).native();
}

void FakeHardware::set_irqs(const std::string& bdf, bool enabled)
{
    find(bdf).irqs_enabled = enabled;
    save_and_render();
}

void FakeHardware::set_power(const std::string& bdf, unsigned d_state)
{
    if (d_state > 3)
        throw_errno(EINVAL, "bad power state");
    find(bdf).power_state = d_state;
    save_and_render();
}

void FakeHardware::remove(const std::string& bdf)
{
    FakeVfioDevice& d = find(bdf);
    d.present = false;
    d.irqs_enabled = false;
    save_and_render();
}

const FakeVfioDevice* FakeHardware::by_cdev(dev_t dev, ino_t ino) const
{
    for (const auto& d : devices_)
        if (d.present && d.cdev_dev == dev && d.cdev_ino == ino)
            return &d;
    return nullptr;
}

const FakeVfioDevice* FakeHardware::by_address(const PciAddress& address) const
{
    for (const auto& d : devices_)
        if (d.address == address)
            return &d;
    return nullptr;
}

std::filesystem::path FakeHardware::cdev_path(const FakeVfioDevice& d) const
{
    return root_ / "dev/vfio/devices" / ("vfio" + std::to_string(d.index));
}

void FakeHardware::save_and_render()
{
    nlohmann::json doc = nlohmann::json::array();
    std::string interrupts = "            CPU0\n";
    unsigned irq = 40;
    for (auto& d : devices_) {
        doc.push_back({{"bdf", d.address.str()}, {"index", d.index}, {"irqs_enabled", d.irqs_enabled},
                       {"power_state", d.power_state}, {"present", d.present}});
        auto cdev = cdev_path(d);
        auto group = root_ / "dev/vfio" / std::to_string(d.index);
        auto sysdir = root_ / "sys/bus/pci/devices" / d.address.str();
        std::error_code ec;
        if (!d.present) {
            std::filesystem::remove(cdev, ec);
            std::filesystem::remove(group, ec);
            std::filesystem::remove_all(sysdir, ec);
            d.cdev_dev = d.cdev_ino = 0;
            continue;
        }
        std::filesystem::create_directories(cdev.parent_path());
        for (const auto& node : {cdev, group}) {
            UniqueFd fd(::open(node.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
            if (!fd)
                throw_last_errno("create " + node.native());
        }
        struct stat st;
        if (::stat(cdev.c_str(), &st) < 0)
            throw_last_errno("stat " + cdev.native());
        d.cdev_dev = st.st_dev;
        d.cdev_ino = st.st_ino;
        std::filesystem::create_directories(sysdir / "vfio-dev" / cdev.filename());
        static const char* const kPowerStates[] = {"D0\n", "D1\n", "D2\n", "D3hot\n"};
        write_file_atomic(sysdir / "power_state", kPowerStates[d.power_state]);
        if (d.irqs_enabled)
            interrupts += " " + std::to_string(irq++) + ":          0  PCI-MSIX-" + d.address.str() +
                          "    0-edge      vfio-msix[0](" + d.address.str() + ")\n";
    }
    write_file_atomic(registry_path(root_), doc.dump(2) + "\n", 0600);
    write_file_atomic(root_ / "proc/interrupts", interrupts, 0444);
}

}  // namespace luo::kmodel
