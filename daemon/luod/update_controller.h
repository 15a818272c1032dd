// SPDX-License-Identifier: Apache-2.0
// UpdateController: luod's update side — kernel loading, the pre-flight checks, the
// readiness barrier, the reboot and the report (design.md §5). It also answers the
// Manager's state properties.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "luo/unique_fd.h"
#include "session_manager.h"

namespace luod {

struct CheckResult {
    std::string id;
    std::string verdict;  // "pass", "warn", "fail"
    std::string detail;
};

class UpdateController {
public:
    explicit UpdateController(SessionManager& sessions);

    [[nodiscard]] std::string state() const;
    [[nodiscard]] std::string kernel_state() const;
    [[nodiscard]] bool kexec_loaded() const;
    [[nodiscard]] std::uint64_t live_update_count() const;
    [[nodiscard]] std::string last_update_json() const;

    luo::UniqueFd inhibit(const Caller& caller, const std::string& what, const std::string& who, const std::string& why,
                          const std::string& mode);
    void load_kernel(const Caller& caller, const std::string& kernel, const std::string& initrd,
                     const std::string& cmdline, bool reuse_cmdline, bool no_liveupdate_flags);
    void unload_kernel(const Caller& caller);
    std::vector<CheckResult> check();
    void cancel(const Caller& caller);
    SessionRecord& retrieve_session(const Caller& caller, const std::string& name);

private:
    SessionManager& sessions_;
};

}  // namespace luod
