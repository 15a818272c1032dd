// SPDX-License-Identifier: Apache-2.0
// vfio-pci handler model ("vfio-pci-v1", docs/kernel-abi.md §4.2, the 2026 series that is not
// merged yet), over the fake devices of FakeHardware:
//  - only fds of a device's cdev are accepted; its group node is refused (ENOENT);
//  - freeze fails with EINVAL while the device has interrupts enabled or is not in D0,
//    which aborts the whole kexec;
//  - only the PCI address is carried; retrieve reopens the device, ENODEV if it is gone;
//  - FINISH waits (EBUSY) until the device was retrieved.
// Not modelled: after a freeze the kernel makes the fd unusable and, in the next kernel,
// refuses a plain open of the preserved device with EBUSY; a fake device file cannot.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "fake_hardware.h"
#include "file_handler.h"

namespace luo::kmodel {

namespace {

struct VfioPciSer {
    std::uint32_t domain;
    std::uint16_t bdf;  // bus << 8 | devfn
    std::uint16_t reserved;
};
static_assert(sizeof(VfioPciSer) == 8);

class VfioHandler final : public FileHandler {
public:
    explicit VfioHandler(FakeHardware& hardware) : hardware_(hardware) {}

    [[nodiscard]] std::string compatible() const override { return "vfio-pci-v1"; }
    [[nodiscard]] std::size_t data_size() const override { return sizeof(VfioPciSer); }

    [[nodiscard]] bool can_preserve(int fd) const override { return device_of(fd) != nullptr; }

    [[nodiscard]] std::string file_id(int fd) const override
    {
        const FakeVfioDevice* d = device_of(fd);
        return d ? "vfio:" + d->address.str() : "vfio:?";
    }

    int preserve(OutgoingFile&) override { return 0; }

    int freeze(OutgoingFile& file, HandoverMemory&, std::vector<std::byte>& data) override
    {
        const FakeVfioDevice* d = device_of(file.file.get());
        if (!d || d->irqs_enabled || d->power_state != 0)
            return -EINVAL;
        VfioPciSer ser{d->address.domain, static_cast<std::uint16_t>(d->address.bus << 8 | d->address.devfn), 0};
        auto b = std::as_bytes(std::span(&ser, 1));
        data.assign(b.begin(), b.end());
        return 0;
    }

    void unfreeze(OutgoingFile&) override {}

    int restore(IncomingFile& file, std::span<UniqueFd>) override
    {
        VfioPciSer ser;
        if (file.data.size() != sizeof ser)
            return -EINVAL;
        std::memcpy(&ser, file.data.data(), sizeof ser);
        return ser.reserved == 0 ? 0 : -EINVAL;
    }

    int retrieve(IncomingFile& file, UniqueFd& out) override
    {
        VfioPciSer ser;
        std::memcpy(&ser, file.data.data(), sizeof ser);
        PciAddress addr{ser.domain, static_cast<std::uint8_t>(ser.bdf >> 8), static_cast<std::uint8_t>(ser.bdf & 0xff)};
        const FakeVfioDevice* d = hardware_.by_address(addr);
        if (!d || !d->present)
            return -ENODEV;
        UniqueFd fd(::open(hardware_.cdev_path(*d).c_str(), O_RDWR | O_CLOEXEC));
        if (!fd)
            return -errno;
        out = std::move(fd);
        return 0;
    }

    [[nodiscard]] bool can_finish(const IncomingFile& file) const override { return file.retrieve_status > 0; }

    void finish(IncomingFile& file) override { file.retrieved.reset(); }

private:
    [[nodiscard]] const FakeVfioDevice* device_of(int fd) const
    {
        struct stat st;
        if (::fstat(fd, &st) < 0)
            return nullptr;
        return hardware_.by_cdev(st.st_dev, st.st_ino);
    }

    FakeHardware& hardware_;
};

}  // namespace

std::unique_ptr<FileHandler> make_vfio_handler(FakeHardware& hardware)
{
    return std::make_unique<VfioHandler>(hardware);
}

}  // namespace luo::kmodel
