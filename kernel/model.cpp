// SPDX-License-Identifier: Apache-2.0
// A boot of the model: booting (pseudo files, the handover of the previous kernel, the
// sockets), the event loop, the kernel's state files, signals and power-off. The device and
// session endpoints are in model_endpoints.cpp, the system calls and the way into the next
// kernel in model_syscalls.cpp.
#include "model.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "clock.h"
#include "fs_util.h"
#include "luo/error.h"
#include "luo/paths.h"
#include "service_notify.h"

namespace luo::kmodel {

namespace {

std::string random_boot_id()
{
    std::random_device rd;
    std::uniform_int_distribution<unsigned> byte(0, 255);
    unsigned char b[16];
    for (auto& x : b)
        x = static_cast<unsigned char>(byte(rd));
    b[6] = (b[6] & 0x0f) | 0x40;  // version 4
    b[8] = (b[8] & 0x3f) | 0x80;
    char out[37];
    std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                  b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return out;
}

// Whether a boolean kernel parameter is on: "name=on|1|y|yes|true" (last one wins).
bool cmdline_flag(const std::string& cmdline, const std::string& name)
{
    std::istringstream in(cmdline);
    std::string word;
    bool on = false;
    while (in >> word) {
        if (word.rfind(name + "=", 0) != 0)
            continue;
        std::string v = word.substr(name.size() + 1);
        on = v == "on" || v == "1" || v == "y" || v == "Y" || v == "yes" || v == "true";
    }
    return on;
}

void raise_fd_limit()
{
    rlimit lim;
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
}

}  // namespace

Model::Model(ModelConfig config) : config_(std::move(config)), hardware_(config_.root) {}

Model::~Model() = default;

int Model::run()
{
    try {
        raise_fd_limit();
        boot();
    } catch (const std::exception& e) {
        spdlog::critical("boot failed: {}", e.what());
        return 1;
    }
    epoll_event events[256];
    for (;;) {
        int n = ::epoll_wait(epoll_.get(), events, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            spdlog::critical("epoll_wait: {}", std::strerror(errno));
            return 1;
        }
        reap_hangups();
        for (int i = 0; i < n; ++i) {
            auto source = static_cast<Source>(events[i].data.u64 >> 56);
            std::uint64_t id = events[i].data.u64 & ((1ull << 56) - 1);
            try {
                switch (source) {
                case Source::device_listener: on_device_listener(); break;
                case Source::syscall_listener: on_syscall_listener(); break;
                case Source::device: on_device_endpoint(); break;
                case Source::session: on_session(id); break;
                case Source::syscall_conn: on_syscall_conn(id); break;
                case Source::signal:
                    if (!on_signal()) {
                        shutdown();
                        return 0;
                    }
                    break;
                }
            } catch (const std::exception& e) {
                // A request that cannot be served must not take the "kernel" down.
                spdlog::error("request failed: {}", e.what());
            }
        }
    }
}
void Model::boot()
{
    KernelPaths paths(config_.root);
    kho_enabled_ = cmdline_flag(config_.cmdline, "kho");
    luo_enabled_ = kho_enabled_ && cmdline_flag(config_.cmdline, "liveupdate");
    if (config_.release.empty())
        config_.release = default_release(config_.profile);

    std::vector<std::unique_ptr<FileHandler>> handlers;
    handlers.push_back(make_memfd_handler(config_.profile));
    handlers.push_back(make_vfio_handler(hardware_));
    core_ = std::make_unique<LuoCore>(config_.profile, config_.max_blocks, std::move(handlers));

    std::error_code ec;
    std::filesystem::remove(paths.boot_id(), ec);  // not booted until the new id appears
    std::filesystem::create_directories(paths.device().parent_path());
    std::filesystem::create_directories(paths.model_syscall().parent_path());
    write_file_atomic(paths.cmdline(), config_.cmdline + "\n", 0444);
    write_file_atomic(paths.os_release(), config_.release + "\n", 0444);
    write_kexec_loaded();
    hardware_.boot();

    // The handover of the previous kernel: a blob plus the preserved memory.
    std::vector<std::byte> blob;
    std::vector<UniqueFd> memory;
    bool have_handover = false;
    if (config_.handover_fd >= 0) {
        UniqueFd fd(config_.handover_fd);
        struct stat st;
        if (::fstat(fd.get(), &st) == 0 && st.st_size > 0) {
            blob.resize(static_cast<std::size_t>(st.st_size));
            if (::pread(fd.get(), blob.data(), blob.size(), 0) != static_cast<ssize_t>(blob.size()))
                blob.clear();
        }
        have_handover = true;
    } else if (!config_.handover_file.empty()) {
        std::string bytes = read_file(config_.handover_file);
        auto b = std::as_bytes(std::span(bytes));
        blob.assign(b.begin(), b.end());
        have_handover = true;
    }
    for (std::size_t i = 0; i < config_.memory_fd_count; ++i) {
        int fd = config_.memory_fd_base + static_cast<int>(i);
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        memory.emplace_back(fd);
    }
    if (have_handover) {
        if (!kho_enabled_)
            spdlog::warn("KHO is off on this kernel's command line: the handover is discarded");
        else if (!luo_enabled_)
            spdlog::warn("LUO is off on this kernel's command line: the preserved sessions are not restored");
        else
            restore_handover(std::move(blob), std::move(memory));
    }

    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    hangups_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_ || !hangups_)
        throw_last_errno("epoll_create1");
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGTERM, SIGINT, SIGCHLD, SIGHUP})
        sigaddset(&mask, sig);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    signals_.reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_)
        throw_last_errno("signalfd");
    watch(signals_.get(), Source::signal, 0);

    syscall_listener_ = listen_at(paths.model_syscall());
    watch(syscall_listener_.get(), Source::syscall_listener, 0);
    auto state_dir = paths.liveupdate_state().parent_path();
    if (luo_enabled_) {
        device_listener_ = listen_at(paths.device());
        watch(device_listener_.get(), Source::device_listener, 0);
        update_state_file();
    } else {
        std::filesystem::remove(paths.device(), ec);
        std::filesystem::remove_all(state_dir, ec);
    }

    boot_id_ = random_boot_id();
    booted_usec_ = realtime_usec();
    write_file_atomic(paths.boot_id(), boot_id_ + "\n", 0444);
    spdlog::info("booted kernel {} (profile {}, boot {}, liveupdate #{}), cmdline '{}'{}", config_.release,
                 config_.profile.name, config_.boot_number, core_->liveupdate_num(), config_.cmdline,
                 luo_enabled_ ? "" : "; LUO disabled");
    notify_service_manager("READY=1\nSTATUS=kernel " + config_.release + ", boot " +
                           std::to_string(config_.boot_number));
    if (!config_.userspace.init_command.empty()) {
        init_pid_ = start_init(config_.userspace.init_command, config_.root, config_.boot_number);
        spdlog::info("started init (pid {}): {}", init_pid_, config_.userspace.init_command);
    }
}
void Model::restore_handover(std::vector<std::byte> blob, std::vector<UniqueFd> memory)
{
    Handover handover;
    auto data_size = [this](std::string_view compatible) -> std::optional<std::size_t> {
        FileHandler* h = core_->handler(compatible);
        return h ? std::optional(h->data_size()) : std::nullopt;
    };
    // Only 7.2 has a block limit; before it, the fixed arrays' limits held at preserve time.
    std::uint32_t max_blocks = config_.profile.linked_blocks ? config_.max_blocks : UINT32_MAX;
    int rc = deserialize_handover(blob, config_.profile.luo_compatible, max_blocks, data_size, handover);
    if (rc == 0)
        rc = core_->restore(handover, std::move(memory));
    if (rc < 0) {
        // The kernel panics on a bad header and fails every open with EIO when a file cannot
        // be restored; the model keeps running and refuses every open with EIO.
        restore_error_ = -rc;
        spdlog::error("incoming handover refused ({}): every open of /dev/liveupdate will fail with EIO",
                      std::strerror(-rc));
        return;
    }
    std::size_t files = 0;
    for (const auto& s : handover.sessions)
        files += s.files.size();
    spdlog::info("restored {} incoming sessions with {} files", handover.sessions.size(), files);
}
void Model::update_state_file()
{
    if (!luo_enabled_)
        return;
    std::string state = "normal";
    if (rebooting_)
        state = "frozen";
    else if (core_->incoming_pending())
        state = "updated";
    else if (loaded_image_ && core_->outgoing_count() > 0)
        state = "prepared";
    if (state == last_state_)
        return;
    write_file_atomic(KernelPaths(config_.root).liveupdate_state(), state + "\n", 0444);
    last_state_ = state;
}
void Model::write_kexec_loaded()
{
    write_file_atomic(KernelPaths(config_.root).kexec_loaded(), loaded_image_ ? "1\n" : "0\n", 0444);
}
bool Model::on_signal()
{
    signalfd_siginfo info;
    while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
        switch (info.ssi_signo) {
        case SIGCHLD:
            while (::waitpid(-1, nullptr, WNOHANG) > 0) {
            }
            break;
        case SIGHUP:
            break;
        default:
            spdlog::info("signal {}: powering off", info.ssi_signo);
            return false;
        }
    }
    return true;
}
void Model::shutdown()
{
    if (init_pid_ > 0)
        ::kill(-init_pid_, SIGKILL);
    KernelPaths paths(config_.root);
    std::error_code ec;
    std::filesystem::remove(paths.device(), ec);
    std::filesystem::remove(paths.model_syscall(), ec);
    std::filesystem::remove(paths.boot_id(), ec);
}
std::string Model::status_json() const
{
    using nlohmann::json;
    json out;
    out["boot_id"] = boot_id_;
    out["boot_number"] = config_.boot_number;
    out["profile"] = config_.profile.name;
    out["release"] = config_.release;
    out["cmdline"] = config_.cmdline;
    out["liveupdate_num"] = core_->liveupdate_num();
    out["luo_enabled"] = luo_enabled_;
    out["restore_error"] = restore_error_ ? std::strerror(restore_error_) : "";
    out["device_open"] = static_cast<bool>(device_endpoint_);
    out["kexec_loaded"] = loaded_image_.has_value();
    out["state"] = last_state_;
    out["kexec"] = {{"reboot_request_usec", config_.previous_reboot_request_usec},
                    {"exec_usec", config_.previous_exec_usec},
                    {"booted_usec", booted_usec_}};
    // Counted while serving this request, so every earlier request is complete; the
    // request's own connection and reply socket are included.
    out["open_fds"] = std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                    std::filesystem::directory_iterator()) - 1;
    json outgoing = json::array(), incoming = json::array();
    for (const auto& [seq, s] : core_->sessions()) {
        json files = json::array();
        for (const auto& f : s.out_files)
            files.push_back({{"token", f.token}, {"type", f.handler->compatible()}});
        for (const auto& f : s.in_files)
            files.push_back({{"token", f.token}, {"type", f.handler->compatible()}, {"retrieved", f.retrieve_status > 0}});
        json js{{"name", s.name}, {"open", static_cast<bool>(s.endpoint)}, {"files", files}};
        if (s.incoming) {
            js["retrieved"] = s.retrieved;
            js["finished"] = s.finished;
            incoming.push_back(js);
        } else {
            outgoing.push_back(js);
        }
    }
    out["outgoing"] = outgoing;
    out["incoming"] = incoming;
    return out.dump();
}

}  // namespace luo::kmodel
