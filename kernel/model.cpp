// SPDX-License-Identifier: Apache-2.0
#include "model.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "fs_util.h"
#include "luo/error.h"
#include "luo/model_wire.h"
#include "luo/paths.h"
#include "luo/uapi.h"
#include "wire_request.h"

namespace luo::kmodel {

namespace wire = luo::model_wire;

namespace {

constexpr std::size_t kMaxCmdline = 2048;  // COMMAND_LINE_SIZE on x86
constexpr auto kEndUserspaceTimeout = std::chrono::seconds(10);

std::uint64_t tag(std::uint8_t source, std::uint64_t id) { return static_cast<std::uint64_t>(source) << 56 | id; }

std::uint64_t realtime_usec()
{
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

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

void send_reply(int reply_sock, int result, std::span<const std::byte> arg = {}, int fd_offset = -1, int fd = -1)
{
    wire::ReplyHeader h{wire::kMagic, result, static_cast<std::uint32_t>(arg.size()), fd_offset};
    std::vector<std::byte> msg(sizeof h + arg.size());
    std::memcpy(msg.data(), &h, sizeof h);
    if (!arg.empty())
        std::memcpy(msg.data() + sizeof h, arg.data(), arg.size());
    std::vector<int> fds;
    if (fd >= 0)
        fds.push_back(fd);
    // The caller may be gone; its new fd then dies with the message.
    if (int rc = wire::send_datagram(reply_sock, msg, fds); rc < 0)
        spdlog::debug("reply not delivered: {}", std::strerror(-rc));
}

int make_socketpair(UniqueFd& model_end, UniqueFd& client_end, ino_t& client_inode)
{
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        return -errno;
    model_end.reset(sv[0]);
    client_end.reset(sv[1]);
    // The client end is used blocking, like a file.
    ::fcntl(sv[1], F_SETFL, ::fcntl(sv[1], F_GETFL) & ~O_NONBLOCK);
    struct stat st;
    if (::fstat(sv[1], &st) < 0)
        return -errno;
    client_inode = st.st_ino;
    return 0;
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
    ::sd_notifyf(0, "READY=1\nSTATUS=kernel %s, boot %llu", config_.release.c_str(),
                 static_cast<unsigned long long>(config_.boot_number));
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

UniqueFd Model::listen_at(const std::filesystem::path& path)
{
    std::error_code ec;
    std::filesystem::remove(path, ec);
    UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!sock)
        throw_last_errno("socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.native().size() >= sizeof addr.sun_path)
        throw_errno(ENAMETOOLONG, "socket path " + path.native());
    std::memcpy(addr.sun_path, path.c_str(), path.native().size() + 1);
    // Root only, like the misc device node (0600) and the CAP_SYS_BOOT system calls.
    mode_t old = ::umask(0177);
    int rc = ::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (rc < 0)
        throw_last_errno("bind " + path.native());
    if (::listen(sock.get(), 128) < 0)
        throw_last_errno("listen " + path.native());
    return sock;
}

void Model::watch(int fd, Source source, std::uint64_t id)
{
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = tag(static_cast<std::uint8_t>(source), id);
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0)
        throw_last_errno("epoll_ctl");
    if (source == Source::device || source == Source::session) {
        ev.events = EPOLLRDHUP;
        if (::epoll_ctl(hangups_.get(), EPOLL_CTL_ADD, fd, &ev) < 0)
            throw_last_errno("epoll_ctl");
    }
}

void Model::unwatch(int fd)
{
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    ::epoll_ctl(hangups_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void Model::reap_hangups()
{
    if (reaping_)
        return;
    reaping_ = true;
    epoll_event events[256];
    for (;;) {
        int n = ::epoll_wait(hangups_.get(), events, 256, 0);
        if (n <= 0)
            break;
        int handled = 0;
        for (int i = 0; i < n; ++i) {
            if (events[i].data.u64 == serving_)
                continue;
            ++handled;
            auto source = static_cast<Source>(events[i].data.u64 >> 56);
            std::uint64_t id = events[i].data.u64 & ((1ull << 56) - 1);
            if (source == Source::device)
                close_device();
            else
                close_session(id);
        }
        if (handled == 0)
            break;
    }
    reaping_ = false;
    update_state_file();
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

template <typename Handle>
bool Model::drain_requests(int fd, Handle handle)
{
    for (;;) {
        wire::Datagram d;
        int rc = wire::recv_datagram(fd, sizeof(wire::RequestHeader) + wire::kMaxArgBytes, wire::kMaxPayloadFds + 1, d);
        if (rc == -EAGAIN)
            return true;
        if (rc < 0 || d.eof)
            return false;
        WireRequest req;
        if (!parse_request(d, req)) {
            spdlog::warn("malformed request dropped");
            if (!d.fds.empty())
                send_reply(d.fds.front().get(), -EINVAL);
            continue;
        }
        handle(req);
    }
}

void Model::on_device_listener()
{
    for (;;) {
        UniqueFd conn(::accept4(device_listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!conn)
            return;
        reap_hangups();
        wire::OpenStatus status{wire::kMagic, 0};
        UniqueFd model_end, client_end;
        if (restore_error_)
            status.result = -EIO;
        else if (device_endpoint_)
            status.result = -EBUSY;  // exclusive open
        else if (int rc = make_socketpair(model_end, client_end, device_client_inode_); rc < 0)
            status.result = rc;
        std::vector<int> fds;
        if (client_end)
            fds.push_back(client_end.get());
        if (wire::send_datagram(conn.get(), std::as_bytes(std::span(&status, 1)), fds) < 0 || status.result < 0)
            continue;
        device_endpoint_ = std::move(model_end);
        watch(device_endpoint_.get(), Source::device, 0);
    }
}

// Requests on the device and on sessions. Hang-ups that happened before a request are
// processed first (see reap_hangups), except the endpoint being served: its own close
// comes after its queued requests.
void Model::serve_device(WireRequest& req)
{
    reap_hangups();
    IoctlRequest ioctl{req.header.request, req.header.flags, req.arg, std::move(req.payload)};
    IoctlReply reply = core_->device_ioctl(ioctl, make_socketpair);
    if (reply.new_session)
        watch(reply.new_session->endpoint.get(), Source::session, reply.new_session->seq);
    update_state_file();  // current before the caller can look
    send_reply(req.reply.get(), reply.result, reply.arg, reply.fd_offset, reply.fd.get());
}

void Model::serve_session(ModelSession& s, WireRequest& req)
{
    reap_hangups();
    IoctlRequest ioctl{req.header.request, req.header.flags, req.arg, std::move(req.payload)};
    IoctlReply reply = core_->session_ioctl(s, ioctl);
    update_state_file();
    send_reply(req.reply.get(), reply.result, reply.arg, reply.fd_offset, reply.fd.get());
}

void Model::on_device_endpoint()
{
    if (!device_endpoint_)
        return;
    serving_ = tag(static_cast<std::uint8_t>(Source::device), 0);
    bool open = drain_requests(device_endpoint_.get(), [this](WireRequest& req) { serve_device(req); });
    serving_ = 0;
    if (!open)
        close_device();
    update_state_file();
}

void Model::close_device()
{
    if (!device_endpoint_)
        return;
    serving_ = tag(static_cast<std::uint8_t>(Source::device), 0);
    drain_requests(device_endpoint_.get(), [this](WireRequest& req) { serve_device(req); });
    serving_ = 0;
    // Closing /dev/liveupdate only clears the in-use flag; sessions are untouched.
    unwatch(device_endpoint_.get());
    device_endpoint_.reset();
    device_client_inode_ = 0;
}

void Model::on_session(std::uint64_t seq)
{
    ModelSession* s = core_->session_by_seq(seq);
    if (!s || !s->endpoint)
        return;
    serving_ = tag(static_cast<std::uint8_t>(Source::session), seq);
    bool open = drain_requests(s->endpoint.get(), [this, s](WireRequest& req) { serve_session(*s, req); });
    serving_ = 0;
    if (!open)
        close_session(seq);
    update_state_file();
}

void Model::close_session(std::uint64_t seq)
{
    ModelSession* s = core_->session_by_seq(seq);
    if (!s || !s->endpoint)
        return;
    serving_ = tag(static_cast<std::uint8_t>(Source::session), seq);
    drain_requests(s->endpoint.get(), [this, s](WireRequest& req) { serve_session(*s, req); });
    serving_ = 0;
    unwatch(s->endpoint.get());
    spdlog::debug("session '{}' closed", s->name);
    core_->session_closed(*s);
}

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
    if (caller_uid != 0 && request != wire::kSysModelStatus) {
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
