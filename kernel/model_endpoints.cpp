// SPDX-License-Identifier: Apache-2.0
// The model's /dev/liveupdate and session fds: each is a socket endpoint whose requests are
// the uAPI's structs (model_wire.h) and whose hang-up is the close of the kernel's file.
// Exclusive open, requests served in order, and every close processed before any later
// request, as the kernel releases a file before close() returns.
#include "model.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "luo/error.h"
#include "luo/model_wire.h"
#include "wire_reply.h"
#include "wire_request.h"

namespace luo::kmodel {

namespace wire = luo::model_wire;

namespace {

// An epoll tag: what kind of endpoint (Source) in the top byte, which one below.
std::uint64_t tag(std::uint8_t source, std::uint64_t id) { return static_cast<std::uint64_t>(source) << 56 | id; }

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

}  // namespace

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
bool Model::drain_requests(int fd, const std::function<void(WireRequest&)>& handle)
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
        wire::OpenStatus status{wire::kMagic, 0, 0};
        UniqueFd model_end, client_end;
        if (restore_error_)
            status.result = -EIO;
        else if (device_endpoint_) {
            status.result = -EBUSY;  // exclusive open
            status.holder_inode = device_client_inode_;
        }
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

}  // namespace luo::kmodel
