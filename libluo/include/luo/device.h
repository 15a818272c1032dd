// SPDX-License-Identifier: Apache-2.0
// libluo's device interface: /dev/liveupdate and its sessions, on a real kernel (ioctls)
// or on luo-kernel-model (its socket protocol). The transport is chosen by what the file
// is: a character device means the kernel, a socket means the model. Nothing above this
// interface knows which one it talks to.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "luo/unique_fd.h"

namespace luo {

enum class Transport { kernel, model };
const char* to_string(Transport t);

enum class SessionKind { outgoing, incoming };
// The kinds' names, as luod's API and manifest spell them.
inline constexpr std::pair<SessionKind, std::string_view> kSessionKindNames[] = {{SessionKind::outgoing, "outgoing"},
                                                                                {SessionKind::incoming, "incoming"}};
const char* to_string(SessionKind k);
inline std::optional<SessionKind> session_kind_from_string(std::string_view name)
{
    for (const auto& [kind, known] : kSessionKindNames)
        if (name == known)
            return kind;
    return std::nullopt;
}

// What the running kernel supports, found by probing rather than by version numbers.
struct Features {
    bool get_name = false;            // LIVEUPDATE_SESSION_GET_NAME (7.2+)
    bool validates_names = false;     // empty/unterminated names refused (7.2+)
    bool rejects_double_preserve = false;  // EBUSY for a file already managed (7.1+)
    // 0 means no fixed limit (7.2+ linked blocks; the block cap is far above fd limits).
    std::uint32_t max_sessions = 0;
    std::uint32_t max_files_per_session = 0;
};

// Issues one LUO ioctl on fd through the right transport: the request value and argument
// exactly as for ioctl(2). Returns 0 or -errno. This is the byte-exact path tests use for
// malformed requests; the typed API below builds on it.
int raw_ioctl(int fd, unsigned long request, void* arg) noexcept;

// The transport serving a device or session fd; nullopt if the fd is not open.
std::optional<Transport> transport_of(int fd) noexcept;

class Session {
public:
    Session() = default;
    // Takes ownership of a session fd obtained elsewhere (an fd store, SCM_RIGHTS, D-Bus).
    // The kind is what the holder knows; the kernel offers no query for it.
    Session(UniqueFd fd, SessionKind kind);

    [[nodiscard]] int fd() const { return fd_.get(); }
    [[nodiscard]] bool valid() const { return fd_.valid(); }
    [[nodiscard]] SessionKind kind() const { return kind_; }
    [[nodiscard]] UniqueFd release() { return std::move(fd_); }

    // Outgoing sessions only. The kernel takes its own reference: fd may be closed after.
    void preserve_fd(int fd, std::uint64_t token);
    // Incoming sessions only. The returned fd has O_CLOEXEC set.
    UniqueFd retrieve_fd(std::uint64_t token);
    // Incoming sessions only; all or nothing (EBUSY if any file cannot finish yet).
    void finish();
    // 7.2+; EINVAL on kernels without GET_NAME.
    std::string get_name();

    // Wrong-kind calls are refused here with EINVAL on every kernel: before 7.2 the kernel
    // did not check and ran handlers on the wrong side's data.

private:
    UniqueFd fd_;
    SessionKind kind_ = SessionKind::outgoing;
};

class Device {
public:
    Device() = default;
    explicit Device(UniqueFd fd);

    // Opens <root>/dev/liveupdate. Throws luo::Error: ENOENT (no LUO), EBUSY (held by
    // another opener; the message names the holders this caller can see, "pid 1 (systemd)"),
    // EIO (the incoming handover could not be restored), EACCES. The open is exclusive and
    // sessions outlive it: open it for the calls that need it and close it again.
    static Device open(const std::filesystem::path& root = "/");

    [[nodiscard]] int fd() const { return fd_.get(); }
    [[nodiscard]] bool valid() const { return fd_.valid(); }
    [[nodiscard]] Transport transport() const { return transport_; }
    [[nodiscard]] UniqueFd release() { return std::move(fd_); }
    void close() { fd_.reset(); }

    // Names: 1..63 bytes, no NUL. Throws luo::Error with the kernel's errno.
    Session create_session(std::string_view name);
    Session retrieve_session(std::string_view name);

    // Probes the running kernel. Creates and closes a scratch session with the given name
    // (closing unpreserves everything, so nothing is left behind).
    Features probe_features(std::string_view scratch_session_name = "luo-feature-probe");

private:
    UniqueFd fd_;
    Transport transport_ = Transport::kernel;
};

}  // namespace luo
