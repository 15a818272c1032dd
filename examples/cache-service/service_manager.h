// SPDX-License-Identifier: Apache-2.0
// What luo-cache-service asks of systemd: readiness, and its file descriptor store, which
// keeps the cache memfd across a restart of the service (FileDescriptorStoreMax=1 in the
// unit). Outside systemd every call is a no-op and says so.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "luo/unique_fd.h"

namespace cache_service {

class ServiceManager {
public:
    // Takes the fds systemd passed at start (LISTEN_FDS; from the fd store after a restart).
    ServiceManager();

    // Whether systemd is listening (NOTIFY_SOCKET is set).
    [[nodiscard]] bool present() const noexcept { return present_; }

    // The fd passed under `name`, if any (once).
    std::optional<luo::UniqueFd> take_passed(const std::string& name);

    // Puts fd into the fd store under `name`, replacing what was stored under that name.
    // False when there is no systemd to keep it.
    bool store(const std::string& name, int fd);

    void notify_ready();
    void notify_stopping();

private:
    bool present_ = false;
    std::map<std::string, luo::UniqueFd> passed_;
};

}  // namespace cache_service
