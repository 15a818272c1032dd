// SPDX-License-Identifier: Apache-2.0
#include "kill_spree_exemption.h"

namespace luod {

KillSpreeExemption::KillSpreeExemption(char* argv0) : argv0_(argv0 && *argv0 ? argv0 : nullptr) {}

bool KillSpreeExemption::take()
{
    if (!argv0_)
        return false;
    if (!held_) {
        original_ = argv0_[0];
        argv0_[0] = '@';
        held_ = true;
    }
    return true;
}

void KillSpreeExemption::give_back()
{
    if (!held_)
        return;
    argv0_[0] = original_;
    held_ = false;
}

}  // namespace luod
