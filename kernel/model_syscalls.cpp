// SPDX-License-Identifier: Apache-2.0
// The model's system calls (its syscall socket, root only): kexec_file_load, reboot(KEXEC)
// with the freeze, the handover and the end of userspace, and the re-exec as the next
// kernel; and the test controls (status, fake vfio devices).
#include "model.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "clock.h"
#include "luo/error.h"
#include "luo/model_wire.h"
#include "luo/paths.h"
#include "luo/uapi.h"
#include "wire_reply.h"
#include "wire_request.h"

namespace luo::kmodel {

namespace wire = luo::model_wire;

namespace {

constexpr std::size_t kMaxCmdline = 2048;  // COMMAND_LINE_SIZE on x86
constexpr auto kEndUserspaceTimeout = std::chrono::seconds(10);

}  // namespace

void Model::on_syscall_listener()
{
    for (;;) {
        UniqueFd conn(::accept4(syscall_listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!conn)
            return;
        ucred cred{};
        socklen_t len = sizeof cred;
        ::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len);
        std::uint64_t id = next_conn_id_++;
        watch(conn.get(), Source::syscall_conn, id);
        syscall_conns_[id] = SyscallConn{std::move(conn), cred.pid, cred.uid};
    }
}
void Model::on_syscall_conn(std::uint64_t id)
{
    auto it = syscall_conns_.find(id);
    if (it == syscall_conns_.end())
        return;
    SyscallConn& c = it->second;
    bool open = drain_requests(c.sock.get(), [this, &c](WireRequest& req) {
        // A session whose last fd was closed is gone before reboot(2) or anything else sees it.
        reap_hangups();
        handle_syscall(c.pid, c.uid, req.header.request, req.arg, req.payload, req.reply.get());
    });
    if (!open) {
        unwatch(c.sock.get());
        syscall_conns_.erase(it);
    }
}
void Model::handle_syscall(pid_t caller_pid, uid_t caller_uid, std::uint64_t request, std::span<const std::byte> arg,
                           std::vector<UniqueFd>& payload, int reply_sock)
{
    auto vfio = [&](auto action) {
        wire::VfioArgs a{};
        if (arg.size() != sizeof a)
            return -EINVAL;
        std::memcpy(&a, arg.data(), sizeof a);
        std::string bdf(a.bdf, strnlen(a.bdf, sizeof a.bdf));
        try {
            action(bdf, a.value);
        } catch (const Error& e) {
            return -e.errno_value();
        }
        return 0;
    };
    // The kernel wants CAP_SYS_BOOT for kexec; the test controls are root's too.
    if (caller_uid != 0 && request != wire::kSysModelStatus && request != wire::kSysSizeFrozen) {
        send_reply(reply_sock, -EPERM);
        return;
    }
    switch (request) {
    case wire::kSysKexecFileLoad: {
        int rc = kexec_file_load(arg, payload);
        update_state_file();
        send_reply(reply_sock, rc);
        return;
    }
    case wire::kSysRebootKexec: {
        int rc = reboot_kexec(caller_pid);
        send_reply(reply_sock, rc);  // only failures come back
        return;
    }
    case wire::kSysModelStatus: {
        // Any size: the document travels in a sealed memfd.
        std::string json = status_json();
        UniqueFd doc(::memfd_create("luo-model-status", MFD_CLOEXEC | MFD_ALLOW_SEALING));
        if (!doc || ::write(doc.get(), json.data(), json.size()) != static_cast<ssize_t>(json.size())) {
            send_reply(reply_sock, -ENOMEM);
            return;
        }
        ::fcntl(doc.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
        send_reply(reply_sock, 0, {}, -1, doc.get());
        return;
    }
    case wire::kSysSizeFrozen: {
        bool one_file = payload.size() == 1 && payload[0];
        send_reply(reply_sock, one_file ? static_cast<int>(core_->size_frozen(payload[0].get())) : -EBADF);
        return;
    }
    case wire::kSysVfioCreate: {
        std::string path;
        int rc = vfio([&](const std::string& bdf, std::uint32_t) { path = hardware_.create(bdf); });
        send_reply(reply_sock, rc, rc == 0 ? std::as_bytes(std::span(path)) : std::span<const std::byte>{});
        return;
    }
    case wire::kSysVfioSetIrqs:
        send_reply(reply_sock, vfio([&](const std::string& bdf, std::uint32_t v) { hardware_.set_irqs(bdf, v != 0); }));
        return;
    case wire::kSysVfioSetPower:
        send_reply(reply_sock, vfio([&](const std::string& bdf, std::uint32_t v) { hardware_.set_power(bdf, v); }));
        return;
    case wire::kSysVfioRemove:
        send_reply(reply_sock, vfio([&](const std::string& bdf, std::uint32_t) { hardware_.remove(bdf); }));
        return;
    default:
        send_reply(reply_sock, -ENOSYS);
    }
}
int Model::kexec_file_load(std::span<const std::byte> arg, std::vector<UniqueFd>& payload)
{
    wire::KexecFileLoadArgs a{};
    if (arg.size() < sizeof a)
        return -EINVAL;
    std::memcpy(&a, arg.data(), sizeof a);
    constexpr std::uint64_t known = uapi::kKexecFileUnload | uapi::kKexecFileOnCrash | uapi::kKexecFileNoInitramfs;
    if (a.flags & ~known)
        return -EINVAL;
    if (a.flags & uapi::kKexecFileUnload) {
        if (loaded_image_)
            spdlog::info("kexec image unloaded");
        loaded_image_.reset();
        write_kexec_loaded();
        return 0;
    }
    if (a.flags & uapi::kKexecFileOnCrash)
        return -EOPNOTSUPP;  // the model has no crash kernel
    if (a.cmdline_len > kMaxCmdline)
        return -EINVAL;
    if (arg.size() != sizeof a + a.cmdline_len)
        return -EINVAL;
    std::string cmdline;
    if (a.cmdline_len > 0) {
        auto text = arg.subspan(sizeof a);
        if (text.back() != std::byte{0})
            return -EINVAL;
        cmdline.assign(reinterpret_cast<const char*>(text.data()), a.cmdline_len - 1);
    }
    if (payload.empty() || !payload[0])
        return -EBADF;
    KexecImage image;
    if (int rc = parse_kexec_image(payload[0].get(), image); rc < 0)
        return rc;
    if (!(a.flags & uapi::kKexecFileNoInitramfs)) {
        if (payload.size() < 2 || !payload[1])
            return -EBADF;
        char byte;
        if (::pread(payload[1].get(), &byte, 1, 0) < 0)
            return -errno;
    }
    image.cmdline = cmdline;
    loaded_image_ = std::move(image);
    write_kexec_loaded();
    spdlog::info("kexec image loaded: kernel {} (profile {}), cmdline '{}'", loaded_image_->release,
                 loaded_image_->profile.name, cmdline);
    return 0;
}
int Model::reboot_kexec(pid_t caller)
{
    reboot_request_usec_ = realtime_usec();
    if (!loaded_image_)
        return -EINVAL;
    rebooting_ = true;
    update_state_file();
    Handover handover;
    HandoverMemory memory;
    if (luo_enabled_) {
        if (int rc = core_->freeze(handover, memory); rc < 0) {
            rebooting_ = false;
            update_state_file();
            spdlog::warn("reboot(KEXEC) aborted: a file failed to freeze ({}); every session stays intact",
                         std::strerror(-rc));
            return rc;
        }
    }
    std::vector<std::byte> blob = serialize_handover(handover, config_.profile.luo_compatible);
    std::size_t files = 0;
    for (const auto& s : handover.sessions)
        files += s.files.size();
    spdlog::info("reboot(KEXEC): {} sessions, {} files frozen; handover {} bytes", handover.sessions.size(), files,
                 blob.size());

    // No new opens or system calls from here on: the old kernel is going away.
    KernelPaths paths(config_.root);
    std::error_code ec;
    std::filesystem::remove(paths.device(), ec);
    std::filesystem::remove(paths.model_syscall(), ec);
    std::filesystem::remove(paths.boot_id(), ec);
    device_listener_.reset();
    syscall_listener_.reset();

    std::set<ino_t> inodes;
    if (device_client_inode_)
        inodes.insert(device_client_inode_);
    for (const auto& [seq, s] : core_->sessions())
        if (s.endpoint)
            inodes.insert(s.client_inode);
    std::set<pid_t> extra{caller};
    UserspaceConfig userspace = config_.userspace;
    if (init_pid_ > 0)
        userspace.process_groups.push_back(init_pid_);
    std::size_t ended = end_userspace(userspace, inodes, extra, kEndUserspaceTimeout);
    spdlog::info("userspace ended ({} processes killed)", ended);
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    exec_next_kernel(std::move(blob), memory.fds);
}
void Model::exec_next_kernel(std::vector<std::byte> blob, const std::vector<int>& memory)
{
    try {
        UniqueFd handover(::memfd_create("luo-handover", MFD_CLOEXEC | MFD_ALLOW_SEALING));
        if (!handover)
            throw_last_errno("memfd_create");
        for (std::size_t done = 0; done < blob.size();) {
            ssize_t n = ::write(handover.get(), blob.data() + done, blob.size() - done);
            if (n < 0)
                throw_last_errno("write handover");
            done += static_cast<std::size_t>(n);
        }
        ::fcntl(handover.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);

        // The preserved memory moves to a contiguous range of fds above everything open,
        // without close-on-exec: it is what the next kernel finds in memory.
        int base = 3;
        for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
            base = std::max(base, std::atoi(entry.path().filename().c_str()) + 1);
        for (std::size_t i = 0; i < memory.size(); ++i)
            if (::dup3(memory[i], base + static_cast<int>(i), 0) < 0)
                throw_last_errno("dup3 preserved memory");
        int handover_fd = ::fcntl(handover.get(), F_DUPFD, 3);
        if (handover_fd < 0)
            throw_last_errno("dup handover");

        const KexecImage& next = *loaded_image_;
        std::vector<std::string> args{"luo-kernel-model",
                                      "--root", config_.root.native(),
                                      "--profile", next.profile.name,
                                      "--release", next.release,
                                      "--cmdline", next.cmdline,
                                      "--max-blocks", std::to_string(config_.max_blocks),
                                      "--log-level", config_.log_level,
                                      "--boot-number", std::to_string(config_.boot_number + 1),
                                      "--handover-fd", std::to_string(handover_fd),
                                      "--memory-fds", std::to_string(base) + ":" + std::to_string(memory.size())};
        for (pid_t pgid : config_.userspace.process_groups)
            args.insert(args.end(), {"--kill-pgid", std::to_string(pgid)});
        for (const auto& cg : config_.userspace.cgroups)
            args.insert(args.end(), {"--kill-cgroup", cg.native()});
        for (pid_t pid : config_.userspace.spared)
            args.insert(args.end(), {"--spare-pid", std::to_string(pid)});
        if (!config_.userspace.reboot_hook.empty())
            args.insert(args.end(), {"--reboot-hook", config_.userspace.reboot_hook});
        if (!config_.userspace.init_command.empty())
            args.insert(args.end(), {"--init", config_.userspace.init_command});
        args.insert(args.end(), {"--previous-kexec", std::to_string(reboot_request_usec_) + ":" +
                                                         std::to_string(realtime_usec())});
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        spdlog::info("starting new kernel {}", next.release);
        spdlog::default_logger()->flush();
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execv("/proc/self/exe", argv.data());
        throw_last_errno("exec /proc/self/exe");
    } catch (const std::exception& e) {
        spdlog::critical("kexec failed after userspace was ended: {}", e.what());
        std::_Exit(1);
    }
}

}  // namespace luo::kmodel
