// SPDX-License-Identifier: Apache-2.0
#include "update_controller.h"

#include <fstream>

#include "api_error.h"
#include "luo/paths.h"

namespace luod {

namespace {

std::string first_line(const std::filesystem::path& path)
{
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

[[noreturn]] void not_yet(const char* what)
{
    fail(ErrorKind::not_supported, std::string(what) + " is not available in this luod yet");
}

}  // namespace

UpdateController::UpdateController(SessionManager& sessions) : sessions_(sessions) {}

std::string UpdateController::state() const { return kexec_loaded() ? "loaded" : "idle"; }

std::string UpdateController::kernel_state() const
{
    return first_line(luo::KernelPaths(sessions_.root()).liveupdate_state());
}

bool UpdateController::kexec_loaded() const
{
    return first_line(luo::KernelPaths(sessions_.root()).kexec_loaded()) == "1";
}

std::uint64_t UpdateController::live_update_count() const { return 0; }

std::string UpdateController::last_update_json() const { return "{}"; }

luo::UniqueFd UpdateController::inhibit(const Caller&, const std::string&, const std::string&, const std::string&,
                                        const std::string&)
{
    not_yet("Inhibit");
}

void UpdateController::load_kernel(const Caller&, const std::string&, const std::string&, const std::string&, bool, bool)
{
    not_yet("LoadKernel");
}

void UpdateController::unload_kernel(const Caller&) { not_yet("UnloadKernel"); }

std::vector<CheckResult> UpdateController::check() { return {}; }

void UpdateController::cancel(const Caller&) { not_yet("Cancel"); }

SessionRecord& UpdateController::retrieve_session(const Caller& caller, const std::string& name)
{
    return sessions_.retrieve_session(caller, name);
}

}  // namespace luod
