// SPDX-License-Identifier: Apache-2.0
// What the kernel-model fuzz targets share: a private root directory with fake vfio-pci
// devices in fixed states, the handler set the model registers, and Handover comparison.
//
// The fixture is the one piece of state that outlives an iteration. It is created lazily
// on first use, never changed afterwards (so every iteration sees the same "hardware" and
// runs stay deterministic), and its directory is removed at exit.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fake_hardware.h"
#include "file_handler.h"
#include "fuzz_util.h"
#include "handover.h"
#include "luo_core.h"
#include "profile.h"

namespace luo::fuzz {

// The fake devices' addresses and states.
inline constexpr const char* kVfioReady = "0000:00:04.0";    // D0, interrupts off: freezes
inline constexpr const char* kVfioIrqs = "0000:00:05.0";     // interrupts on: freeze fails
inline constexpr const char* kVfioD3 = "0000:00:06.0";       // D3hot: freeze fails
inline constexpr const char* kVfioRemoved = "0000:00:07.0";  // hot-unplugged: retrieve fails

class ModelFixture {
public:
    static ModelFixture& get()
    {
        static ModelFixture fixture;  // lazily initialised, immutable after construction
        return fixture;
    }

    ModelFixture(const ModelFixture&) = delete;
    ModelFixture& operator=(const ModelFixture&) = delete;
    ~ModelFixture()
    {
        std::error_code ec;
        std::filesystem::remove_all(root_, ec);
    }

    [[nodiscard]] kmodel::FakeHardware& hardware() { return *hardware_; }
    [[nodiscard]] const std::filesystem::path& root() const { return root_; }
    // A device's cdev (what LUO accepts) and group node (what it refuses).
    [[nodiscard]] std::filesystem::path cdev(const char* bdf) const { return root_ / cdev_rel(bdf); }
    [[nodiscard]] std::filesystem::path group(const char* bdf) const
    {
        return root_ / "dev/vfio" / cdev_rel(bdf).filename();
    }
    // A linked regular file (LUO refuses it: only unlinked shmem is a memfd).
    [[nodiscard]] std::filesystem::path plain_file() const { return root_ / "plain"; }

    // The handlers the model registers, in its order.
    std::vector<std::unique_ptr<kmodel::FileHandler>> handlers(const kmodel::Profile& profile)
    {
        std::vector<std::unique_ptr<kmodel::FileHandler>> h;
        h.push_back(kmodel::make_memfd_handler(profile));
        h.push_back(kmodel::make_vfio_handler(*hardware_));
        return h;
    }

private:
    ModelFixture()
    {
        const char* tmp = std::getenv("TMPDIR");
        std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/luo-fuzz-XXXXXX";
        if (!::mkdtemp(templ.data()))
            check_failed("mkdtemp", __FILE__, __LINE__, templ);
        root_ = templ;
        hardware_ = std::make_unique<kmodel::FakeHardware>(root_);
        hardware_->boot();
        for (const char* bdf : {kVfioReady, kVfioIrqs, kVfioD3, kVfioRemoved})
            hardware_->create(bdf);
        hardware_->set_irqs(kVfioIrqs, true);
        hardware_->set_power(kVfioD3, 3);
        hardware_->remove(kVfioRemoved);
        UniqueFd plain(::open(plain_file().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        FUZZ_CHECK(plain);
    }

    // by_address() finds unplugged devices too (their cdev path no longer exists).
    [[nodiscard]] std::filesystem::path cdev_rel(const char* bdf) const
    {
        auto addr = kmodel::PciAddress::parse(bdf);
        const kmodel::FakeVfioDevice* d = addr ? hardware_->by_address(*addr) : nullptr;
        if (!d)
            check_failed("fixture device", __FILE__, __LINE__, bdf);
        return hardware_->cdev_path(*d).lexically_relative(root_);
    }

    std::filesystem::path root_;
    std::unique_ptr<kmodel::FakeHardware> hardware_;
};

inline bool same_handover(const kmodel::Handover& a, const kmodel::Handover& b)
{
    if (a.liveupdate_num != b.liveupdate_num || a.sessions.size() != b.sessions.size())
        return false;
    for (std::size_t i = 0; i < a.sessions.size(); ++i) {
        const auto& sa = a.sessions[i];
        const auto& sb = b.sessions[i];
        if (sa.name != sb.name || sa.files.size() != sb.files.size())
            return false;
        for (std::size_t j = 0; j < sa.files.size(); ++j) {
            const auto& fa = sa.files[j];
            const auto& fb = sb.files[j];
            if (fa.compatible != fb.compatible || fa.token != fb.token || fa.data != fb.data)
                return false;
        }
    }
    return true;
}

// The model's lookup of a handler's data size by compatible string (Model::restore_handover).
inline kmodel::HandlerDataSize data_size_of(const kmodel::LuoCore& core)
{
    return [&core](std::string_view compatible) -> std::optional<std::size_t> {
        kmodel::FileHandler* h = core.handler(compatible);
        return h ? std::optional(h->data_size()) : std::nullopt;
    };
}

}  // namespace luo::fuzz
