// SPDX-License-Identifier: Apache-2.0
// SessionRegistry: luod's sessions, kept for services, and the session half of the API.
//
// DOC: a session's life in luod
//
// An outgoing session is created for its owner (the caller, or whoever root names), gets
// files preserved into it in batches, and lives until its owner closes it or the update
// carries it into the next kernel. There it comes back as an incoming session, unclaimed
// (state "incoming", no kernel fd: the kernel keeps it until RETRIEVE); its owner claims it
// ("retrieved"), takes its files back and finishes it, or luod releases it when nobody
// claimed it in time. luod holds its own fd of every session it has (the kernel ends a
// session with its last fd) and the state store parks another in systemd's fd store.
//
// Every operation checks the caller's rights (root, or the owner: same uid, same unit when
// the session was made inside one) and quotas, asks the state store to record the change
// ahead of the kernel call (write-ahead, docs/architecture.md §5.3), calls the kernel through
// DeviceAccess, records the outcome, and then tells its observers. Errors are ApiError. It
// knows nothing of D-Bus: the D-Bus layer calls it with the caller's identity.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "device_access.h"
#include "file_classifier.h"
#include "luo/unique_fd.h"
#include "session_record.h"
#include "state_store.h"
#include "usage_ledger.h"

namespace luod {

// How an incoming session left luod (the update report's outcomes follow it).
enum class SessionEnd { finished, released, lost };

// Who follows changes: the D-Bus layer and the update controller.
class SessionObserver {
public:
    virtual ~SessionObserver() = default;
    // An incoming session is about to be removed, and why (`reason`: for people).
    virtual void session_ended(const SessionRecord& /*session*/, SessionEnd /*how*/, const std::string& /*reason*/) {}
    virtual void session_added(const SessionRecord& session) = 0;
    // `gone`: the record as it was, no longer in the registry.
    virtual void session_removed(const SessionRecord& gone) = 0;
    virtual void session_changed(const SessionRecord& session, const std::vector<std::string>& properties) = 0;
};

class SessionRegistry {
public:
    SessionRegistry(const Config& config, DeviceAccess& device, StateStore& store);

    // Takes the sessions the state store restored at start. Sessions of a live update it left
    // unrestored (StateStore::unrestored()) join the registry one by one as they are first
    // looked up by name, or all at once when something needs every record (sessions(),
    // file_count()); restore_some() brings them in the background. Listings and usage_of()
    // tell them as restoring will make them, restoring none (StateStore::glance()).
    void start(std::map<std::string, SessionRecord> restored);
    // Restores up to `most` sessions left unrestored; the number still left.
    std::size_t restore_some(std::size_t most);
    [[nodiscard]] std::size_t unrestored() const { return store_.unrestored(); }
    // Whether sessions of the update may still wait to be restored (does not walk the manifest).
    [[nodiscard]] bool restore_pending() const { return store_.restore_pending(); }
    // Whether the update's sessions are still unknown by name (the manifest that came across
    // is not walked yet: StateStore::walk_pending()), and a bounded step of that walk, true
    // once they are known. Whatever needs them before finishes the walk at once.
    [[nodiscard]] bool walk_pending() const { return store_.walk_pending(); }
    bool walk_some(std::size_t entries) { return store_.walk_some(entries); }
    // A bounded step of reading the owners of the update's sessions not restored yet, true
    // once all are known (StateStore::glance_some()): a listing of everyone's sessions (a
    // non-root caller's page, ListSessions) then reads no entry.
    bool glance_some(std::size_t most) { return store_.glance_some(most); }
    // How many sessions of `kind` there are, without walking the manifest or restoring any:
    // those of the update not restored yet are incoming, counted once walked, and until then
    // as many as the update's record says it carried.
    [[nodiscard]] std::size_t count_of_kind(luo::SessionKind kind) const;
    // Every session's name, restored or not (without restoring any).
    [[nodiscard]] std::vector<std::string> names() const;
    void add_observer(SessionObserver* observer) { observers_.push_back(observer); }
    void remove_observer(SessionObserver* observer) { std::erase(observers_, observer); }

    // The API. Every call checks the caller's rights and throws ApiError.
    SessionRecord& create(const Caller& caller, const std::string& name, const std::optional<Owner>& on_behalf);
    SessionRecord& get(const Caller& caller, const std::string& name);
    // A session as listings show it. Sessions of an update not restored yet are listed as
    // restoring them will make them (StateStore::glance()), without restoring any: a listing
    // reads the update's manifest, it does not write this boot's nor move any fd (issue 12).
    struct Listed {
        std::string name;
        luo::SessionKind kind = luo::SessionKind::incoming;
        SessionState state = SessionState::incoming;
        Owner owner;
        std::size_t files = 0;
    };
    // The sessions `caller` may see (may_access()), in name order.
    [[nodiscard]] std::vector<Listed> list(const Caller& caller) const;
    // The same one page at a time: at most `limit` sessions named after `after`, in name order,
    // and the name to continue after ("" at the end). Others than root see only their own.
    struct Page {
        std::vector<Listed> sessions;
        std::string next;
    };
    [[nodiscard]] Page page(const Caller& caller, const std::string& after, std::size_t limit) const;
    // How many sessions of `kind` `caller` may see (root: count_of_kind()). Restores none;
    // the update's sessions are incoming, so an outgoing count does not even walk its manifest.
    [[nodiscard]] std::size_t count_visible(const Caller& caller, luo::SessionKind kind) const;
    // `name` as a listing shows it, restored or not (restores none); nullopt when it is no
    // session, or one of the update that restoring will drop.
    [[nodiscard]] std::optional<Listed> listed(const std::string& name) const;
    std::vector<std::uint64_t> preserve(const Caller& caller, const std::string& name,
                                        const std::vector<FileToPreserve>& files);
    // Claims an incoming session for its owner: retrieved from the kernel on first claim.
    SessionRecord& retrieve_session(const Caller& caller, const std::string& name);
    luo::UniqueFd acquire_fd(const Caller& caller, const std::string& name);
    luo::UniqueFd retrieve_fd(const Caller& caller, const std::string& name, const std::string& label);
    void finish(const Caller& caller, const std::string& name);
    void close(const Caller& caller, const std::string& name);
    // Whether `caller` may see and use `session`.
    [[nodiscard]] static bool may_access(const Caller& caller, const SessionRecord& session);
    [[nodiscard]] static bool may_access(const Caller& caller, const Owner& owner);

    // Releases incoming sessions nobody claimed: their memory is freed (FINISH), each logged.
    // One the kernel no longer has is released as lost. A step at a time, for the event loop:
    // each restores up to `most` of the update's sessions not restored yet, or, once none is
    // left, releases up to `most` of those nobody claimed; `done` once none is left to release.
    struct Released {
        std::size_t released = 0;
        bool done = false;
    };
    Released release_unclaimed(std::size_t most);
    // Forgets closed sessions (state "closed") the kernel no longer has: every copy of their
    // fd has been closed. Until then they count as their owner's.
    void reap_closed();

    // State for properties and checks.
    [[nodiscard]] const SessionRecord* find(const std::string& name) const;
    [[nodiscard]] const std::map<std::string, SessionRecord>& sessions() const
    {
        restore_all();
        return sessions_;
    }
    [[nodiscard]] std::size_t outgoing_count() const;
    [[nodiscard]] std::size_t incoming_count() const;
    // incoming_count() > 0, without walking the manifest that came across (at start-up).
    [[nodiscard]] bool has_incoming() const;
    [[nodiscard]] std::size_t file_count() const;
    // The files of outgoing sessions (kept as records change: no walk over the sessions).
    [[nodiscard]] std::size_t outgoing_file_count() const { return ledger_.outgoing_files(); }

    // What a uid has luod hold: its sessions (outgoing ones, the kernel's sessions it holds
    // through AcquireFd), and the files and bytes in all of its sessions. Kept as records
    // change (usage_ledger.h): a lookup, whatever others hold.
    using Usage = UsageLedger::Usage;
    // Sessions of the update not restored yet count as restoring them will make them: incoming
    // (not counted as sessions), their files and bytes the uid's (read from the old manifest,
    // all of them the first time; none is restored for it).
    [[nodiscard]] Usage usage_of(uid_t uid) const;
    // MaxBytesPerUser in bytes (a per cent of the machine's memory, resolved at start).
    [[nodiscard]] std::uint64_t bytes_per_user() const { return bytes_per_user_; }

private:
    // The record of `name` joins sessions_ if the state store left it unrestored. Restoring
    // changes nothing anyone sees (the session was there all along), so it is done from const
    // members too: sessions_ and ledger_ are mutable for it.
    void restore(const std::string& name) const;
    // The first `most` names after `after`, in name order, of the sessions, restored or not,
    // that `caller` may be shown: root every one, anyone else those of its uid (may_access()
    // still decides on each). Restores none.
    [[nodiscard]] std::vector<std::string> names_after(const std::string& after, std::size_t most,
                                                       const Caller& caller) const;
    void restore_all() const;
    SessionRecord& require(const Caller& caller, const std::string& name);
    void require_device() const;
    void release(const std::string& name);
    // Whether the kernel still has the session luod let go of (someone holds its fd). Asks
    // it by name: CREATE_SESSION is EEXIST for a live outgoing session, RETRIEVE_SESSION
    // EINVAL for a retrieved incoming one. "Cannot tell" is yes: it keeps counting.
    [[nodiscard]] bool kernel_still_has(const SessionRecord& session);
    void notify_changed(const SessionRecord& session, const std::vector<std::string>& properties);
    void notify_added(const SessionRecord& session);
    void notify_removed(const SessionRecord& gone);
    void notify_ended(const SessionRecord& session, SessionEnd how, const std::string& reason);

    const Config& config_;
    DeviceAccess& device_;
    StateStore& store_;
    FileClassifier classifier_;
    std::vector<SessionObserver*> observers_;
    mutable std::map<std::string, SessionRecord> sessions_;
    mutable UsageLedger ledger_;  // every record of sessions_, counted as it is
    std::uint64_t bytes_per_user_ = 0;
};

}  // namespace luod
