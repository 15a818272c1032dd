// SPDX-License-Identifier: Apache-2.0
// luo-kernel-model: a userspace model of the Linux Live Update Orchestrator, so luod and
// its clients run and are tested on machines without a LUO kernel. See model.h.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "model.h"

namespace {

std::pair<int, std::size_t> parse_fd_range(const std::string& text)
{
    auto colon = text.find(':');
    if (colon == std::string::npos)
        throw CLI::ValidationError("--memory-fds", "expected BASE:COUNT");
    return {std::stoi(text.substr(0, colon)), static_cast<std::size_t>(std::stoul(text.substr(colon + 1)))};
}

}  // namespace

int main(int argc, char** argv)
{
    using luo::kmodel::ModelConfig;
    ModelConfig config;
    std::string profile_name{luo::kmodel::kDefaultProfile};
    std::string memory_fds;

    CLI::App app{"luo-kernel-model: a userspace model of the Linux Live Update Orchestrator.\n\n"
                 "Serves ROOT/dev/liveupdate (a socket standing in for the device) and\n"
                 "ROOT/run/luo-kernel-model/syscall (kexec_file_load and reboot), and keeps\n"
                 "ROOT/sys/kernel/liveupdate/state, ROOT/sys/kernel/kexec_loaded and\n"
                 "ROOT/proc/cmdline current. On a successful reboot(KEXEC) it ends every process\n"
                 "holding one of its files (plus the groups and cgroups named below) and\n"
                 "re-executes itself as the loaded kernel, carrying preserved memfds over.",
                 "luo-kernel-model"};
    app.option_defaults()->always_capture_default();
    app.add_option("--root", config.root, "Directory standing in for / (created if missing)")->required();
    app.add_option("--profile", profile_name, "Kernel release to model: 6.19, 7.1 or 7.2")
        ->check(CLI::IsMember({"6.19", "7.1", "7.2"}));
    app.add_option("--release", config.release, "Release string (default: <profile>.0-luo-model)");
    app.add_option("--cmdline", config.cmdline,
                   "Kernel command line; LUO needs kho=on and liveupdate=on");
    app.add_option("--max-blocks", config.max_blocks, "7.2 serialization block limit per chain")
        ->check(CLI::Range(1u, 1000000u));
    app.add_option("--kill-pgid", config.userspace.process_groups,
                   "Process group ended at every kexec (repeatable)");
    app.add_option("--kill-cgroup", config.userspace.cgroups, "Cgroup directory ended at every kexec (repeatable)");
    app.add_option("--reboot-hook", config.userspace.reboot_hook,
                   "Shell command run at a kexec, before userspace is ended");
    app.add_option("--init", config.userspace.init_command,
                   "Shell command started at every boot as the simulated userspace, in its own "
                   "session; it gets LUO_MODEL_ROOT and LUO_MODEL_BOOT");
    app.add_option("--spare-pid", config.userspace.spared,
                   "A process outside the simulated machine never ended by a kexec, though it may "
                   "hold model files (a test harness acting as the service manager; repeatable)");
    app.add_option("--handover-file", config.handover_file,
                   "Boot as if a previous kernel had handed over this blob (testing)");
    app.add_option("--log-level", config.log_level, "trace, debug, info, warn, error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
    auto* internal = app.add_option_group("");  // set by the model itself when it re-executes
    internal->add_option("--boot-number", config.boot_number);
    internal->add_option("--handover-fd", config.handover_fd);
    internal->add_option("--memory-fds", memory_fds);
    std::string previous_kexec;
    internal->add_option("--previous-kexec", previous_kexec);
    app.footer("Exit status: 0 after SIGTERM/SIGINT, 1 on a fatal error, 2 on bad usage.");

    try {
        app.parse(argc, argv);
        if (!memory_fds.empty())
            std::tie(config.memory_fd_base, config.memory_fd_count) = parse_fd_range(memory_fds);
        if (auto colon = previous_kexec.find(':'); colon != std::string::npos) {
            config.previous_reboot_request_usec = std::stoull(previous_kexec.substr(0, colon));
            config.previous_exec_usec = std::stoull(previous_kexec.substr(colon + 1));
        }
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "luo-kernel-model: %s\n", e.what());
        return 2;
    }
    config.profile = *luo::kmodel::find_profile(profile_name);

    auto logger = spdlog::stderr_logger_st("luo-kernel-model");
    logger->set_pattern("luo-kernel-model[%P]: %^%l%$: %v");
    logger->set_level(spdlog::level::from_str(config.log_level));
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);

    luo::kmodel::Model model(std::move(config));
    return model.run();
}
