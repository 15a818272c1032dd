// SPDX-License-Identifier: Apache-2.0
// Test and benchmark helpers for luo-kernel-model: its introspection and the controls of
// its fake hardware. luod never uses these; it sees the model only through Device/Kexec.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "luo/unique_fd.h"

namespace luo::model {

// Sends one request on <root>/run/luo-kernel-model/syscall. Returns 0 or -errno; on
// success `reply` holds the reply's argument bytes and `reply_fd` an fd the reply carried.
// A closed connection without reply (the model went down to reboot) is -ECONNRESET.
int syscall_request(const std::filesystem::path& root, std::uint64_t request,
                    std::span<const std::byte> args, std::span<const int> fds,
                    std::vector<std::byte>* reply = nullptr, UniqueFd* reply_fd = nullptr);

// The model's view of its sessions and files as JSON (boot id, profile, outgoing and
// incoming sessions with their tokens), like a debugfs dump. Throws luo::Error.
std::string status_json(const std::filesystem::path& root);

// Fake vfio-pci devices: created once, they are "hardware" and outlive model reboots.
// The device file is <root>/dev/vfio/devices/vfio<N>; returns its path.
std::filesystem::path vfio_create(const std::filesystem::path& root, const std::string& bdf);
void vfio_set_irqs(const std::filesystem::path& root, const std::string& bdf, bool enabled);
void vfio_set_power(const std::filesystem::path& root, const std::string& bdf, unsigned d_state);
void vfio_remove(const std::filesystem::path& root, const std::string& bdf);

// <root>/proc/sys/kernel/random/boot_id, or "" when the model is not up.
std::string boot_id(const std::filesystem::path& root);
// Waits until the model has booted with a boot id different from `previous` and its
// syscall socket answers. Returns the new boot id; throws luo::Error(ETIMEDOUT).
std::string wait_for_boot(const std::filesystem::path& root, const std::string& previous,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Writes a model kernel image: kexec_file_load on the model accepts only these. The
// profile ("6.19", "7.1", "7.2") is the kernel the model becomes after the kexec.
void write_kernel_image(const std::filesystem::path& file, const std::string& profile);

}  // namespace luo::model
