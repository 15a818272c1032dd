// SPDX-License-Identifier: Apache-2.0
// luoctl's verbs. Each is one function (run_<verb>) and one registration (register_<verb>);
// register_verbs() lists the registrations in the order --help shows them.
#pragma once

#include "command_line.h"

namespace luo::ctl {

void register_verbs(CommandLine& command_line);

}  // namespace luo::ctl
