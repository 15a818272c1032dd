// SPDX-License-Identifier: Apache-2.0
#include "luo/model_control.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <thread>

#include "luo/error.h"
#include "luo/model_wire.h"
#include "luo/paths.h"
#include "luo/unique_fd.h"
#include "model_transport.h"

namespace luo::model {

namespace {

int connect_syscall_socket(const std::filesystem::path& root, UniqueFd& out)
{
    UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!sock)
        return -errno;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string p = KernelPaths(root).model_syscall().native();
    if (p.size() >= sizeof addr.sun_path)
        return -ENAMETOOLONG;
    std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
    if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        return errno == ECONNREFUSED ? -ENOENT : -errno;
    out = std::move(sock);
    return 0;
}

model_wire::VfioArgs vfio_args(const std::string& bdf, std::uint32_t value)
{
    model_wire::VfioArgs a{};
    if (bdf.size() >= sizeof a.bdf)
        throw_errno(EINVAL, "bad PCI address " + bdf);
    std::memcpy(a.bdf, bdf.c_str(), bdf.size());
    a.value = value;
    return a;
}

std::vector<std::byte> request_or_throw(const std::filesystem::path& root, std::uint64_t request,
                                        std::span<const std::byte> args, const std::string& what)
{
    std::vector<std::byte> reply;
    if (int rc = syscall_request(root, request, args, {}, &reply); rc < 0)
        throw_errno(-rc, what);
    return reply;
}

}  // namespace

int syscall_request(const std::filesystem::path& root, std::uint64_t request, std::span<const std::byte> args,
                    std::span<const int> fds, std::vector<std::byte>* reply, UniqueFd* reply_fd)
{
    UniqueFd sock;
    if (int rc = connect_syscall_socket(root, sock); rc < 0)
        return rc;
    detail::ModelReply r;
    if (int rc = detail::model_exchange(sock.get(), request, 0, args, fds, r); rc < 0)
        return rc;
    UniqueFd received(r.fd);
    if (reply)
        *reply = std::move(r.arg);
    if (reply_fd)
        *reply_fd = std::move(received);
    return r.result;
}

std::string status_json(const std::filesystem::path& root)
{
    UniqueFd doc;
    if (int rc = syscall_request(root, model_wire::kSysModelStatus, {}, {}, nullptr, &doc); rc < 0)
        throw_errno(-rc, "model status");
    if (!doc)
        throw_errno(EPROTO, "model status: no document");
    std::string out;
    char buf[65536];
    for (off_t at = 0;;) {
        ssize_t n = ::pread(doc.get(), buf, sizeof buf, at);
        if (n < 0)
            throw_last_errno("read model status");
        if (n == 0)
            return out;
        out.append(buf, static_cast<std::size_t>(n));
        at += n;
    }
}

std::filesystem::path vfio_create(const std::filesystem::path& root, const std::string& bdf)
{
    auto a = vfio_args(bdf, 0);
    auto bytes = request_or_throw(root, model_wire::kSysVfioCreate, std::as_bytes(std::span(&a, 1)), "create vfio device " + bdf);
    return root / std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void vfio_set_irqs(const std::filesystem::path& root, const std::string& bdf, bool enabled)
{
    auto a = vfio_args(bdf, enabled ? 1 : 0);
    request_or_throw(root, model_wire::kSysVfioSetIrqs, std::as_bytes(std::span(&a, 1)), "vfio irqs " + bdf);
}

void vfio_set_power(const std::filesystem::path& root, const std::string& bdf, unsigned d_state)
{
    auto a = vfio_args(bdf, d_state);
    request_or_throw(root, model_wire::kSysVfioSetPower, std::as_bytes(std::span(&a, 1)), "vfio power " + bdf);
}

void vfio_remove(const std::filesystem::path& root, const std::string& bdf)
{
    auto a = vfio_args(bdf, 0);
    request_or_throw(root, model_wire::kSysVfioRemove, std::as_bytes(std::span(&a, 1)), "vfio remove " + bdf);
}

std::string boot_id(const std::filesystem::path& root)
{
    std::ifstream in(KernelPaths(root).boot_id());
    std::string id;
    in >> id;
    return id;
}

std::string wait_for_boot(const std::filesystem::path& root, const std::string& previous, std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::string id = boot_id(root);
        if (!id.empty() && id != previous) {
            UniqueFd sock;
            if (connect_syscall_socket(root, sock) == 0)
                return id;
        }
        if (std::chrono::steady_clock::now() > deadline)
            throw_errno(ETIMEDOUT, "waiting for the kernel model to boot");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

void write_kernel_image(const std::filesystem::path& file, const std::string& profile)
{
    std::ofstream out(file, std::ios::trunc);
    out << "LUO-KERNEL-MODEL-IMAGE\nprofile=" << profile << "\n";
    if (!out.flush())
        throw_errno(EIO, "write " + file.native());
}

}  // namespace luo::model
