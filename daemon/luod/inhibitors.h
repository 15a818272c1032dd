// SPDX-License-Identifier: Apache-2.0
// Update inhibitors, as logind's: a caller takes one and gets the write end of a pipe; the
// inhibitor lasts until every copy of that end is closed. A delay inhibitor holds the
// update's readiness barrier (docs/architecture.md §4) until released or timed out; a block
// inhibitor (root only) refuses the update while held.
//
// Who may delay an update (so that no user can veto or starve what is not theirs): the
// barrier waits only for delay inhibitors held when the update starts, and only for those
// of root and of owners of sessions the update carries. Anyone may take one (it is
// harmless), but one taken after the update started, or by a uid with nothing to carry, is
// not waited for. Each is waited for at most the delay timeout, once per update; Force
// proceeds after the timeout instead of failing, logging who still held theirs.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config.h"
#include "event_loop.h"
#include "luo/unique_fd.h"
#include "session_record.h"
#include "string_table.h"

namespace luod {

enum class InhibitMode { delay, block };
inline constexpr luo::StringTable<InhibitMode, 2> kInhibitModes{{{
    {InhibitMode::delay, "delay"},
    {InhibitMode::block, "block"},
}}};
inline std::string_view to_string(InhibitMode mode) { return kInhibitModes.name(mode); }

class Inhibitors {
public:
    // `released` runs (from the event loop) after an inhibitor went away. The limits are
    // luod.conf's [Update] MaxInhibitors, MaxInhibitorsPerUser and InhibitorsReservedForRoot.
    Inhibitors(EventLoop& loop, const Config& config, std::function<void()> released);

    // Validates the arguments and the caller's rights and limits; throws ApiError.
    luo::UniqueFd take(const Caller& caller, const std::string& what, const std::string& who, const std::string& why,
                       const std::string& mode);

    // "who (why)" of each inhibitor of that mode.
    [[nodiscard]] std::vector<std::string> holders(InhibitMode mode) const;
    // Every inhibitor held now, for ListInhibitors (root only): who, why, mode, uid, pid.
    struct Held {
        std::string who, why;
        InhibitMode mode;
        uid_t uid;
        pid_t pid;
    };
    [[nodiscard]] std::vector<Held> list() const;

    // The uids whose delay inhibitors an update of these sessions waits for: root and the
    // owners of the outgoing sessions it carries.
    [[nodiscard]] static std::set<uid_t> may_delay(const std::map<std::string, SessionRecord>& sessions);
    // The delay inhibitors held now by those uids (the barrier of an update starting now).
    [[nodiscard]] std::set<std::uint64_t> barrier(const std::set<uid_t>& may_delay) const;
    // Those of `ids` still held.
    [[nodiscard]] std::set<std::uint64_t> still_held(const std::set<std::uint64_t>& ids) const;
    // "who (why) of uid N" of each inhibitor of `ids` still held; of every delay inhibitor
    // outside `ids` when `outside` is set.
    [[nodiscard]] std::vector<std::string> describe(const std::set<std::uint64_t>& ids, bool outside = false) const;

private:
    struct Inhibitor {
        std::string who, why;
        InhibitMode mode = InhibitMode::delay;
        uid_t uid = 0;
        pid_t pid = 0;
        luo::UniqueFd fifo;  // read end; HUP once every copy of the caller's end is closed
        EventSource watch;
    };

    void release(std::uint64_t id);

    EventLoop& loop_;
    const Config& config_;
    std::function<void()> released_;
    std::map<std::uint64_t, Inhibitor> inhibitors_;
    std::uint64_t next_id_ = 1;
};

}  // namespace luod
