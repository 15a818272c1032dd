// SPDX-License-Identifier: Apache-2.0
#include "inhibitors.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "api_error.h"
#include "polkit_actions.h"
#include "names.h"

namespace luod {

Inhibitors::Inhibitors(EventLoop& loop, const Config& config, std::function<void()> released)
    : loop_(loop), config_(config), released_(std::move(released))
{
}

luo::UniqueFd Inhibitors::take(const Caller& caller, const std::string& what, const std::string& who,
                               const std::string& why, const std::string& mode)
{
    if (what != "update")
        fail(ErrorKind::invalid_args, "only \"update\" can be inhibited");
    std::optional<InhibitMode> parsed = kInhibitModes.parse(mode);
    if (!parsed)
        fail(ErrorKind::invalid_args, "the mode must be \"delay\" or \"block\"");
    if (*parsed == InhibitMode::block && !caller.may_administer())
        fail(ErrorKind::access_denied, not_allowed("take block inhibitors", polkit_action::kInhibitBlock));
    validate_display_text(who, "who");
    validate_display_text(why, "why");
    // Each uid but root has a share, and all of them together leave root its reserve: other
    // users cannot keep root's VMM from taking the inhibitors it needs.
    auto mine = static_cast<std::size_t>(std::count_if(inhibitors_.begin(), inhibitors_.end(),
                                                       [&](const auto& kv) { return kv.second.uid == caller.uid; }));
    auto roots = static_cast<std::size_t>(
        std::count_if(inhibitors_.begin(), inhibitors_.end(), [](const auto& kv) { return kv.second.uid == 0; }));
    if (inhibitors_.size() >= config_.max_inhibitors)
        fail(ErrorKind::limits_exceeded, "luod holds " + std::to_string(config_.max_inhibitors) +
                                             " inhibitors, the most allowed (MaxInhibitors)");
    if (!caller.is_root()) {
        if (mine >= config_.max_inhibitors_per_user)
            fail(ErrorKind::quota_exceeded, "uid " + std::to_string(caller.uid) + " holds " + std::to_string(mine) +
                                                " inhibitors, the most allowed (MaxInhibitorsPerUser)");
        std::size_t others = inhibitors_.size() - roots;
        std::size_t open_to_others = config_.max_inhibitors > config_.inhibitors_reserved_for_root
                                         ? config_.max_inhibitors - config_.inhibitors_reserved_for_root
                                         : 0;
        if (others >= open_to_others)
            fail(ErrorKind::limits_exceeded, "the inhibitors left are reserved for root (InhibitorsReservedForRoot)");
    }
    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        fail(ErrorKind::limits_exceeded, std::string("cannot make an inhibitor: ") + std::strerror(errno));
    luo::UniqueFd read_end(p[0]), write_end(p[1]);
    std::uint64_t id = next_id_++;
    Inhibitor& inh = inhibitors_[id];
    inh.who = who;
    inh.why = why;
    inh.mode = *parsed;
    inh.uid = caller.uid;
    inh.pid = caller.pid;
    inh.fifo = std::move(read_end);
    inh.watch = loop_.add_io(inh.fifo.get(), EPOLLIN, [this, id](std::uint32_t) {
        // Removed after this dispatch: the watch cannot be destroyed from its own callback.
        loop_.post([this, id] { release(id); });
    });
    spdlog::info("{} inhibitor taken by uid {} ({}): {}", mode, caller.uid, who, why);
    return write_end;
}

std::vector<std::string> Inhibitors::holders(InhibitMode mode) const
{
    std::vector<std::string> out;
    for (const auto& [id, inh] : inhibitors_)
        if (inh.mode == mode)
            out.push_back(inh.who + " (" + inh.why + ")");
    return out;
}

std::set<uid_t> Inhibitors::may_delay(const std::map<std::string, SessionRecord>& sessions)
{
    std::set<uid_t> out{0};
    for (const auto& [name, r] : sessions)
        if (r.kind == luo::SessionKind::outgoing)
            out.insert(r.owner.uid);
    return out;
}

std::set<std::uint64_t> Inhibitors::barrier(const std::set<uid_t>& may_delay) const
{
    std::set<std::uint64_t> out;
    for (const auto& [id, inh] : inhibitors_)
        if (inh.mode == InhibitMode::delay && may_delay.contains(inh.uid))
            out.insert(id);
    return out;
}

std::set<std::uint64_t> Inhibitors::still_held(const std::set<std::uint64_t>& ids) const
{
    std::set<std::uint64_t> out;
    for (std::uint64_t id : ids)
        if (inhibitors_.contains(id))
            out.insert(id);
    return out;
}

std::vector<Inhibitors::Held> Inhibitors::list() const
{
    std::vector<Held> out;
    for (const auto& [id, inh] : inhibitors_)
        out.push_back({inh.who, inh.why, inh.mode, inh.uid, inh.pid});
    return out;
}

std::vector<std::string> Inhibitors::describe(const std::set<std::uint64_t>& ids, bool outside) const
{
    std::vector<std::string> out;
    for (const auto& [id, inh] : inhibitors_)
        if (inh.mode == InhibitMode::delay && ids.contains(id) != outside)
            out.push_back(inh.who + " (" + inh.why + ") of uid " + std::to_string(inh.uid));
    return out;
}

void Inhibitors::release(std::uint64_t id)
{
    auto it = inhibitors_.find(id);
    if (it == inhibitors_.end())
        return;
    spdlog::info("{} inhibitor of uid {} ({}) released", to_string(it->second.mode), it->second.uid, it->second.who);
    inhibitors_.erase(it);
    released_();
}

}  // namespace luod
