// SPDX-License-Identifier: Apache-2.0
#include "service_manager.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <memory>

#include "luo/error.h"

namespace cache_service {

namespace {

// sd_listen_fds_with_names() hands out a malloc'ed NULL-terminated array of malloc'ed strings.
struct FreeStrv {
    void operator()(char** strv) const noexcept
    {
        for (char** s = strv; *s; ++s)
            std::free(*s);
        std::free(strv);
    }
};

}  // namespace

ServiceManager::ServiceManager() : present_(std::getenv("NOTIFY_SOCKET") != nullptr)
{
    char** raw_names = nullptr;
    int count = ::sd_listen_fds_with_names(1, &raw_names);
    std::unique_ptr<char*, FreeStrv> names(raw_names);
    if (count < 0)
        luo::throw_errno(-count, "sd_listen_fds_with_names");
    for (int i = 0; i < count; ++i) {
        // Owned at once, so that an fd we do not want is closed rather than leaked.
        luo::UniqueFd fd(SD_LISTEN_FDS_START + i);
        std::string name = names && names.get()[i] ? names.get()[i] : "";
        passed_.insert_or_assign(std::move(name), std::move(fd));
    }
}

std::optional<luo::UniqueFd> ServiceManager::take_passed(const std::string& name)
{
    auto it = passed_.find(name);
    if (it == passed_.end())
        return std::nullopt;
    luo::UniqueFd fd = std::move(it->second);
    passed_.erase(it);
    return fd;
}

bool ServiceManager::store(const std::string& name, int fd)
{
    if (!present_)
        return false;
    // Two messages: the removal must not catch the fd that is being added.
    std::string remove = "FDSTOREREMOVE=1\nFDNAME=" + name;
    if (int rc = ::sd_pid_notify_with_fds(0, 0, remove.c_str(), nullptr, 0); rc < 0)
        luo::throw_errno(-rc, "sd_notify FDSTOREREMOVE");
    std::string add = "FDSTORE=1\nFDNAME=" + name;
    int rc = ::sd_pid_notify_with_fds(0, 0, add.c_str(), &fd, 1);
    if (rc < 0)
        luo::throw_errno(-rc, "sd_notify FDSTORE");
    return rc > 0;
}

void ServiceManager::notify_ready()
{
    if (present_)
        ::sd_notify(0, "READY=1");
}

void ServiceManager::notify_stopping()
{
    if (present_)
        ::sd_notify(0, "STOPPING=1");
}

}  // namespace cache_service
