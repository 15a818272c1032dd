// SPDX-License-Identifier: Apache-2.0
// What the benchmarks read of a process's memory: its resident set (VmRSS in
// /proc/PID/status), the figure luod's bytes per session and per file are computed from.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace luo::bench {

// A process's resident memory in bytes; 0 when it cannot be read (the process is gone).
inline std::uint64_t rss_bytes(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmRSS:", 0) == 0)
            return std::stoull(line.substr(6)) * 1024;
    return 0;
}

}  // namespace luo::bench
