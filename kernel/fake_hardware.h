// SPDX-License-Identifier: Apache-2.0
// Fake vfio-pci devices, so the vfio-pci-v1 handler's failure paths can be exercised on a
// machine without such hardware. They are "hardware": the registry lives in a file under
// the root and survives model reboots. Each device gets
//   <root>/dev/vfio/devices/vfio<N>           the VFIO cdev (what LUO accepts)
//   <root>/dev/vfio/<N>                        its group node (LUO refuses group-obtained fds)
//   <root>/sys/bus/pci/devices/<bdf>/power_state and .../vfio-dev/vfio<N>/
// and, while its interrupts are enabled, vfio-msix lines in <root>/proc/interrupts.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace luo::kmodel {

struct PciAddress {
    std::uint32_t domain = 0;
    std::uint8_t bus = 0;
    std::uint8_t devfn = 0;  // device << 3 | function

    static std::optional<PciAddress> parse(const std::string& bdf);
    [[nodiscard]] std::string str() const;
    bool operator==(const PciAddress&) const = default;
};

struct FakeVfioDevice {
    PciAddress address;
    unsigned index = 0;       // vfio<N>
    bool irqs_enabled = false;
    unsigned power_state = 0; // 0 = D0, 3 = D3hot
    bool present = true;      // false after a hot-unplug
    dev_t cdev_dev = 0;       // identity of the cdev file
    ino_t cdev_ino = 0;
};

class FakeHardware {
public:
    explicit FakeHardware(std::filesystem::path root);

    // Loads the registry (if any) and renders every device file. Throws luo::Error.
    void boot();

    // Returns the cdev path relative to the root. Creating an existing device is EEXIST.
    std::string create(const std::string& bdf);
    void set_irqs(const std::string& bdf, bool enabled);
    void set_power(const std::string& bdf, unsigned d_state);
    void remove(const std::string& bdf);

    [[nodiscard]] const FakeVfioDevice* by_cdev(dev_t dev, ino_t ino) const;
    [[nodiscard]] const FakeVfioDevice* by_address(const PciAddress& address) const;
    [[nodiscard]] std::filesystem::path cdev_path(const FakeVfioDevice& d) const;

private:
    FakeVfioDevice& find(const std::string& bdf);
    void save_and_render();

    std::filesystem::path root_;
    std::vector<FakeVfioDevice> devices_;
};

}  // namespace luo::kmodel
