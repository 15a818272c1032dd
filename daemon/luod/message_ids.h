// SPDX-License-Identifier: Apache-2.0
// journald MESSAGE_IDs of luod's milestones: one per event an operator searches for
// (journalctl MESSAGE_ID=...), each explained in the catalog units/luod.catalog, which the
// package installs into /usr/lib/systemd/catalog (journalctl -x shows the explanation).
// Never reuse or change one: searches and alerts depend on them. tests/luod check that the
// catalog and this list name the same ids.
#pragma once

#include <array>
#include <string_view>

namespace luod::message_id {

inline constexpr std::string_view kUpdateRequested = "382595c605af417c87f90e3340a20748";
inline constexpr std::string_view kBarrierPassed = "4f98eee033104f6ba219d5a31efc40fe";
inline constexpr std::string_view kRebootCalled = "45c9d5c6d45c46f595a14991362f6515";
inline constexpr std::string_view kRestored = "58b19f602bab42ccace6bf06aaad4ec5";
inline constexpr std::string_view kAllFinished = "d958f80068d643afaff5f2f37338057a";
inline constexpr std::string_view kUpdateFailed = "21627ac3d39c44dfb0a23250fc68ac27";
inline constexpr std::string_view kUpdateSessionsLost = "5aa7b0bd2ee44260873471cc5c30b0dc";
inline constexpr std::string_view kRestartLostSessions = "8e5cc22193a64435a8a7759dcd5eb59e";

inline constexpr std::array kAll{kUpdateRequested, kBarrierPassed,  kRebootCalled,       kRestored,
                                 kAllFinished,     kUpdateFailed,   kUpdateSessionsLost, kRestartLostSessions};

}  // namespace luod::message_id
