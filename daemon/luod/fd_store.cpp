// SPDX-License-Identifier: Apache-2.0
#include "fd_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>

namespace luod {

FdStore::FdStore() : enabled_(std::getenv("NOTIFY_SOCKET") != nullptr)
{
    // Said at start, not only at a clean stop: after a crash nobody is left to say it.
    if (!enabled_)
        spdlog::warn("no fd store (no service manager: $NOTIFY_SOCKET is unset): sessions end when luod stops "
                     "or crashes; run luod as its systemd unit to keep them across a restart");
}

bool FdStore::store(const std::string& name, int fd)
{
    if (!enabled_)
        return true;
    std::string message = "FDSTORE=1\nFDNAME=" + name;
    int rc = ::sd_pid_notify_with_fds(0, 0, message.c_str(), &fd, 1);
    if (rc <= 0) {
        spdlog::warn("the service manager did not take fd '{}' into its store ({}): a luod crash would lose it",
                     name, rc < 0 ? std::strerror(-rc) : "no notify socket");
        return false;
    }
    return true;
}

void FdStore::remove(const std::string& name)
{
    if (!enabled_)
        return;
    std::string message = "FDSTOREREMOVE=1\nFDNAME=" + name;
    if (int rc = ::sd_notify(0, message.c_str()); rc < 0) {
        spdlog::warn("could not remove fd '{}' from the store: {}", name, std::strerror(-rc));
        return;
    }
    // The kernel ends a session when its last fd closes, and the service manager's copy is
    // one: wait until it has dropped it, so a closed session is gone when Close returns (and
    // a kexec right after cannot carry it).
    if (int rc = ::sd_notify_barrier(0, 5 * 1000 * 1000); rc < 0)
        spdlog::warn("the service manager did not confirm dropping fd '{}': {}", name, std::strerror(-rc));
}

bool FdStore::rename(const std::string& from, const std::string& to, int fd)
{
    if (!enabled_)
        return true;
    // No barrier (remove() waits for one, a round trip to the service manager: most of a
    // restore's time under the systemd strategy, issue 12).
    std::string message = "FDSTOREREMOVE=1\nFDNAME=" + from;
    if (int rc = ::sd_notify(0, message.c_str()); rc < 0)
        spdlog::warn("could not remove fd '{}' from the store: {}", from, std::strerror(-rc));
    return store(to, fd);
}

std::vector<std::pair<std::string, luo::UniqueFd>> FdStore::take_listen_fds()
{
    std::vector<std::pair<std::string, luo::UniqueFd>> out;
    char** names = nullptr;
    int n = ::sd_listen_fds_with_names(1, &names);  // unsets the LISTEN_* variables
    if (n <= 0)
        return out;
    for (int i = 0; i < n; ++i) {
        int fd = SD_LISTEN_FDS_START + i;
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        out.emplace_back(names && names[i] ? names[i] : "unknown", luo::UniqueFd(fd));
    }
    if (names) {
        for (int i = 0; i < n; ++i)
            std::free(names[i]);
        std::free(names);
    }
    return out;
}

std::string FdStore::session_name(luo::SessionKind kind, std::string_view session)
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = kind == luo::SessionKind::outgoing ? "luo-s-" : "luo-i-";
    for (unsigned char c : session) {
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    return out;
}

}  // namespace luod
