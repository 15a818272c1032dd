// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <string>
#include <vector>

#include "client_bus.h"
#include "luo/client.h"
#include "luo/dbus_api.h"
#include "luo/error.h"

namespace luo {

using client_detail::translate_errors;

ClientSession::Impl::Impl(std::shared_ptr<client_detail::CallBus> call_bus, std::string session_name,
                          std::string object_path)
    : bus(std::move(call_bus)),
      name(std::move(session_name)),
      path(std::move(object_path)),
      calls(*bus->connection, path)
{
}

namespace {

// Runs one session call under the bus lock, with errors translated.
template <typename Fn>
auto locked_call(client_detail::CallBus& bus, Fn&& fn) -> decltype(fn())
{
    std::lock_guard lock(bus.mutex);
    return translate_errors(fn);
}

const std::string kNoString;

}  // namespace

ClientSession::ClientSession() = default;
ClientSession::ClientSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClientSession::ClientSession(ClientSession&&) noexcept = default;
ClientSession& ClientSession::operator=(ClientSession&&) noexcept = default;
ClientSession::~ClientSession() = default;

bool ClientSession::valid() const noexcept { return impl_ != nullptr; }
const std::string& ClientSession::name() const noexcept { return impl_ ? impl_->name : kNoString; }
const std::string& ClientSession::path() const noexcept { return impl_ ? impl_->path : kNoString; }

ClientSession::Impl& ClientSession::impl()
{
    if (!impl_)
        throw ClientError(dbus::error::kInvalidState, "the session handle is empty (finished, closed or moved from)");
    return *impl_;
}

std::string ClientSession::kind()
{
    Impl& i = impl();
    return locked_call(*i.bus, [&] { return i.calls.Kind(); });
}

std::string ClientSession::state()
{
    Impl& i = impl();
    return locked_call(*i.bus, [&] { return i.calls.State(); });
}

std::vector<FileInfo> ClientSession::files()
{
    Impl& i = impl();
    auto listed = locked_call(*i.bus, [&] { return i.calls.Files(); });
    std::vector<FileInfo> files;
    files.reserve(listed.size());
    for (auto& entry : listed)
        files.push_back(FileInfo{std::move(std::get<0>(entry)), std::get<1>(entry), std::move(std::get<2>(entry))});
    return files;
}

std::uint64_t ClientSession::preserve(int fd, const std::string& label)
{
    Impl& i = impl();
    sdbus::UnixFd copy = client_detail::fd_to_send(fd);
    return locked_call(*i.bus, [&] { return i.calls.PreserveFd(copy, label); });
}

std::vector<std::uint64_t> ClientSession::preserve(const std::vector<std::pair<int, std::string>>& files)
{
    Impl& i = impl();
    // dbus-daemon disconnects a client whose message carries more fds than the bus allows,
    // so this must never reach the wire.
    if (files.size() > dbus::kMaxFdsPerCall)
        throw ClientError(dbus::error::kInvalidArgs, "PreserveFds takes at most " +
                                                         std::to_string(dbus::kMaxFdsPerCall) +
                                                         " files per call, not " + std::to_string(files.size()));
    if (files.empty())
        return {};
    std::vector<sdbus::Struct<sdbus::UnixFd, std::string>> batch;
    batch.reserve(files.size());
    for (const auto& [fd, label] : files)
        batch.emplace_back(client_detail::fd_to_send(fd), label);
    return locked_call(*i.bus, [&] { return i.calls.PreserveFds(batch); });
}

UniqueFd ClientSession::retrieve(const std::string& label)
{
    Impl& i = impl();
    std::lock_guard lock(i.bus->mutex);
    if (!i.acquired.valid()) {
        // Kernels before 7.2 do not refuse RETRIEVE_FD on an outgoing session: they run the
        // handler on outgoing data. So make sure of the kind before taking the session fd;
        // the fd then stays this incoming session's, whatever later takes the object path.
        if (std::string kind = translate_errors([&] { return i.calls.Kind(); });
            session_kind_from_string(kind) != SessionKind::incoming)
            throw ClientError(dbus::error::kInvalidState, "session " + i.name + " is " + kind +
                                                              ": files are retrieved from incoming sessions only");
        sdbus::UnixFd session_fd = translate_errors([&] { return i.calls.AcquireFd(); });
        i.acquired = Session(client_detail::take_received_fd(std::move(session_fd)), SessionKind::incoming);
    }

    auto files = translate_errors([&] { return i.calls.Files(); });
    auto file =
        std::find_if(files.begin(), files.end(), [&](const auto& entry) { return std::get<0>(entry) == label; });
    if (file == files.end())
        throw ClientError(dbus::error::kNoSuchFile, "no file labelled '" + label + "' in session " + i.name);
    std::uint64_t token = std::get<1>(*file);
    try {
        return i.acquired.retrieve_fd(token);
    } catch (const Error& e) {
        throw ClientError(dbus::error::kKernelError, "LIVEUPDATE_SESSION_RETRIEVE_FD of '" + label + "' (token " +
                                                         std::to_string(token) + ") in session " + i.name + ": " +
                                                         errno_name(e.errno_value()) + " (" + e.code().message() + ")");
    }
}

UniqueFd ClientSession::retrieve_via_luod(const std::string& label)
{
    Impl& i = impl();
    sdbus::UnixFd fd = locked_call(*i.bus, [&] { return i.calls.RetrieveFd(label); });
    return client_detail::take_received_fd(std::move(fd));
}

UniqueFd ClientSession::acquire_fd()
{
    Impl& i = impl();
    sdbus::UnixFd fd = locked_call(*i.bus, [&] { return i.calls.AcquireFd(); });
    return client_detail::take_received_fd(std::move(fd));
}

void ClientSession::finish()
{
    Impl& i = impl();
    // Our copy of the session fd goes first: the kernel releases an incoming session only
    // when its last fd is closed, and luod's is meant to be the last.
    i.acquired = Session();
    locked_call(*i.bus, [&] { i.calls.Finish(); });
    impl_.reset();
}

void ClientSession::close()
{
    Impl& i = impl();
    i.acquired = Session();
    locked_call(*i.bus, [&] { i.calls.Close(); });
    impl_.reset();
}

}  // namespace luo
