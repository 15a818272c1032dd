// SPDX-License-Identifier: Apache-2.0
#include "profile.h"

namespace luo::kmodel {

std::optional<Profile> find_profile(std::string_view name)
{
    Profile p;
    p.name = std::string(name);
    p.max_sessions_fixed = (16 * 4096 - 8) / 80;  // 819
    p.max_files_fixed = 2 * 4096 / 64;            // 128
    p.luo_compatible = "luo-v1";
    if (name == "6.19") {
        p.memfd_compatible = "memfd-v1";
        return p;
    }
    p.sticky_retrieve = true;
    p.rejects_double_preserve = true;
    p.memfd_seals = true;
    p.memfd_size_check = true;
    p.memfd_compatible = "memfd-v2";
    if (name == "7.1")
        return p;
    if (name == "7.2") {
        p.linked_blocks = true;
        p.get_name = true;
        p.validates_names = true;
        p.checks_session_kind = true;
        p.checks_finish_reserved = true;
        p.luo_compatible = "luo-v5";
        return p;
    }
    return std::nullopt;
}

}  // namespace luo::kmodel
