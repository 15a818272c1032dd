// SPDX-License-Identifier: Apache-2.0
#include "session_registry.h"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <set>
#include <optional>

#include "api_error.h"
#include "clock.h"
#include "fault.h"
#include "file_classifier.h"
#include "kernel_errors.h"
#include "log.h"
#include "luo/dbus_api.h"
#include "luo/error.h"
#include "names.h"

namespace luod {

namespace {

constexpr const char* kNotCarried = "the kernel did not carry it (RETRIEVE_SESSION: ENOENT)";

}  // namespace

SessionRegistry::SessionRegistry(const Config& config, DeviceAccess& device, StateStore& store)
    : config_(config), device_(device), store_(store), classifier_(device.root())
{
    long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    std::uint64_t memory = pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) : 0;
    bytes_per_user_ = config_.bytes_per_user(memory);
}

void SessionRegistry::start(std::map<std::string, SessionRecord> restored)
{
    sessions_ = std::move(restored);
    for (const auto& [name, r] : sessions_)
        ledger_.add(r);
    if (device_.available())
        spdlog::info("ready: {} sessions{}, kernel via {}", sessions_.size(),
                     store_.restore_pending() ? " and those of the update, restored when claimed or in the background"
                                              : "",
                     luo::to_string(device_.transport()));
}

void SessionRegistry::restore(const std::string& name) const
{
    if (!store_.is_unrestored(name))
        return;
    if (std::optional<SessionRecord> r = store_.restore_session(name)) {
        auto [it, inserted] = sessions_.emplace(name, std::move(*r));
        if (inserted)
            ledger_.add(it->second);
    }
}

void SessionRegistry::restore_all() const
{
    while (store_.unrestored() > 0)
        for (const std::string& name : store_.unrestored_names(store_.unrestored()))
            restore(name);
}

std::size_t SessionRegistry::restore_some(std::size_t most)
{
    for (const std::string& name : store_.unrestored_names(most))
        restore(name);
    return store_.unrestored();
}

std::vector<std::string> SessionRegistry::names() const
{
    std::vector<std::string> out;
    for (const auto& [name, r] : sessions_)
        out.push_back(name);
    for (std::string& name : store_.unrestored_names(store_.unrestored()))
        out.push_back(std::move(name));
    return out;
}

SessionRecord& SessionRegistry::create(const Caller& caller, const std::string& name, const std::optional<Owner>& on_behalf)
{
    validate_session_name(name);
    if (on_behalf && !caller.is_root())
        fail(ErrorKind::access_denied, "only root may create a session for another owner");
    if (!caller.is_root())
        for (const std::string& prefix : config_.name_prefixes_reserved_for_root)
            if (name.starts_with(prefix))
                fail(ErrorKind::name_reserved, "session names starting with " + quote(prefix) +
                                                   " are root's (NamePrefixesReservedForRoot)");
    Owner owner = on_behalf ? *on_behalf : caller.as_owner();
    require_device();
    reap_closed();
    restore(name);
    if (auto it = sessions_.find(name); it != sessions_.end()) {
        if (it->second.kind == luo::SessionKind::incoming)
            fail(ErrorKind::invalid_state, "session " + quote(name) + " came across the last update: finish it first");
        fail(ErrorKind::session_exists, "session " + quote(name) + " exists");
    }
    if (!caller.is_root()) {
        // The update's sessions are incoming and count for nobody: none needs reading.
        std::size_t owned = ledger_.of(caller.uid).sessions;
        if (owned >= config_.max_sessions_per_user)
            fail(ErrorKind::quota_exceeded, "uid " + std::to_string(caller.uid) + " owns " + std::to_string(owned) +
                                                " sessions, the most allowed (MaxSessionsPerUser)");
    }
    // luod's own session counts against the kernel's fixed limit too, and the last
    // SessionsReservedForRoot of it are root's: other users together cannot take them.
    const luo::Features& features = device_.features();
    std::size_t in_use = outgoing_count() + 1;
    std::size_t reserve = caller.is_root() ? 0 : config_.sessions_reserved_for_root;
    if (features.max_sessions > 0 && in_use + 1 + reserve > features.max_sessions)
        fail(ErrorKind::limits_exceeded,
             "the kernel holds at most " + std::to_string(features.max_sessions) + " sessions" +
                 (reserve > 0 ? ", and the last " + std::to_string(reserve) + " are reserved for root" : std::string()));

    SessionRecord r;
    r.name = name;
    r.owner = owner;
    r.created_usec = realtime_usec();
    r.pending = true;  // write-ahead: the owner is recorded before the kernel has the session
    auto [it, inserted] = sessions_.emplace(name, std::move(r));
    ledger_.add(it->second);
    auto forget = [&] {
        ledger_.remove(it->second);
        sessions_.erase(name);
    };
    try {
        store_.write_session(it->second, StateStore::Write::ahead);
    } catch (const ApiError&) {
        forget();
        throw;
    }
    fault_point("create-after-write-ahead");
    try {
        it->second.kernel = device_.create_session(name);
    } catch (const luo::Error& e) {
        forget();
        store_.erase_session(name);
        fail_create(e, name);
    }
    fault_point("create-after-kernel");
    store_.keep_fd(luo::SessionKind::outgoing, name, it->second.kernel.fd());
    fault_point("create-after-store");
    it->second.pending = false;
    store_.write_session(it->second);
    log::Fields f{{"LUO_SESSION", name},
                  {"LUO_OWNER_UID", std::to_string(owner.uid)},
                  {"LUO_OWNER_UNIT", owner.unit}};
    spdlog::info("session '{}' created for uid {}{}", name, owner.uid, owner.unit.empty() ? "" : " (" + owner.unit + ")");
    notify_added(it->second);
    return it->second;
}

SessionRecord& SessionRegistry::get(const Caller& caller, const std::string& name) { return require(caller, name); }

std::optional<SessionRegistry::Listed> SessionRegistry::listed(const std::string& name) const
{
    if (auto it = sessions_.find(name); it != sessions_.end()) {
        const SessionRecord& r = it->second;
        return Listed{r.name, r.kind, r.state, r.owner, r.files.size()};
    }
    // Not restored: an incoming session, unclaimed, as restoring it will make it.
    if (std::optional<StateStore::Glance> g = store_.glance(name))
        return Listed{name, luo::SessionKind::incoming, SessionState::incoming, g->owner, g->files};
    return std::nullopt;
}

std::vector<std::string> SessionRegistry::names_after(const std::string& after, std::size_t most,
                                                      const Caller& caller) const
{
    // Those restored: root's are every session, anyone else's those of its uid (the ledger
    // knows them by uid, so a caller's page costs its own sessions, not everyone's).
    std::vector<std::string> restored;
    if (caller.is_root()) {
        for (auto it = sessions_.upper_bound(after); it != sessions_.end() && restored.size() < most; ++it)
            restored.push_back(it->first);
    } else {
        const std::set<std::string>& own = ledger_.names_of(caller.uid);
        for (auto it = own.upper_bound(after); it != own.end() && restored.size() < most; ++it)
            restored.push_back(*it);
    }
    // Those of the update not restored yet: root's page counts every name (one that restoring
    // drops counts, then shows nothing); anyone else's only those restoring keeps as its uid's.
    std::vector<std::string> waiting;
    if (caller.is_root()) {
        waiting = store_.unrestored_after(after, most);
    } else {
        constexpr std::size_t kBatch = 256;
        std::string from = after;
        for (;;) {
            std::vector<std::string> batch = store_.unrestored_after(from, kBatch);
            for (const std::string& name : batch) {
                std::optional<StateStore::Glance> g = store_.glance(name);
                if (g && g->owner.uid == caller.uid && waiting.size() < most)
                    waiting.push_back(name);
            }
            if (batch.size() < kBatch || waiting.size() >= most)
                break;
            from = batch.back();
        }
    }
    std::vector<std::string> merged;
    std::set_union(restored.begin(), restored.end(), waiting.begin(), waiting.end(), std::back_inserter(merged));
    if (merged.size() > most)
        merged.resize(most);
    return merged;
}

std::vector<SessionRegistry::Listed> SessionRegistry::list(const Caller& caller) const
{
    std::vector<Listed> out;
    for (const std::string& name : names_after("", std::numeric_limits<std::size_t>::max(), caller))
        if (std::optional<Listed> l = listed(name); l && may_access(caller, l->owner))
            out.push_back(std::move(*l));
    return out;
}

SessionRegistry::Page SessionRegistry::page(const Caller& caller, const std::string& after, std::size_t limit) const
{
    Page out;
    // The names of the page and the one after it, restored or not, in order.
    std::vector<std::string> names = names_after(after, limit + 1, caller);
    if (names.size() > limit) {
        names.resize(limit);
        out.next = names.back();
    }
    for (const std::string& name : names)
        if (std::optional<Listed> l = listed(name); l && may_access(caller, l->owner))
            out.sessions.push_back(std::move(*l));
    return out;
}

SessionRegistry::Usage SessionRegistry::usage_of(uid_t uid) const
{
    Usage usage = ledger_.of(uid);
    if (!store_.restore_pending())
        return usage;
    for (const std::string& name : store_.unrestored_names(std::numeric_limits<std::size_t>::max()))
        if (std::optional<StateStore::Glance> g = store_.glance(name); g && g->owner.uid == uid) {
            usage.files += g->files;
            usage.bytes += g->bytes;
        }
    return usage;
}

std::size_t SessionRegistry::count_visible(const Caller& caller, luo::SessionKind kind) const
{
    if (caller.is_root())
        return count_of_kind(kind);
    if (kind == luo::SessionKind::outgoing) {
        // The update's sessions are all incoming: the restored ones are all there is to count.
        std::size_t n = 0;
        for (const std::string& name : ledger_.names_of(caller.uid))
            if (auto it = sessions_.find(name);
                it != sessions_.end() && it->second.kind == kind && may_access(caller, it->second.owner))
                ++n;
        return n;
    }
    std::vector<Listed> visible = list(caller);
    return static_cast<std::size_t>(
        std::count_if(visible.begin(), visible.end(), [&](const Listed& l) { return l.kind == kind; }));
}

std::vector<std::uint64_t> SessionRegistry::preserve(const Caller& caller, const std::string& name,
                                                    const std::vector<FileToPreserve>& files)
{
    SessionRecord& s = require(caller, name);
    if (s.kind != luo::SessionKind::outgoing)
        fail(ErrorKind::invalid_state, "session " + quote(name) + " came across an update: files cannot be added to it");
    if (s.state == SessionState::closed)
        fail(ErrorKind::invalid_state, "session " + quote(name) + " is closed");
    require_device();
    if (files.empty())
        fail(ErrorKind::invalid_args, "no file to preserve");
    if (files.size() > luo::dbus::kMaxFdsPerCall)
        fail(ErrorKind::invalid_args, "at most " + std::to_string(luo::dbus::kMaxFdsPerCall) + " files per call");
    if (s.files.size() + files.size() > config_.max_files_per_session)
        fail(ErrorKind::quota_exceeded, "a session holds at most " + std::to_string(config_.max_files_per_session) +
                                            " files (MaxFilesPerSession)");
    const luo::Features& features = device_.features();
    if (features.max_files_per_session > 0 && s.files.size() + files.size() > features.max_files_per_session)
        fail(ErrorKind::limits_exceeded, "the kernel holds at most " + std::to_string(features.max_files_per_session) +
                                             " files per session");

    // Validate the whole batch before anything reaches the kernel.
    struct Candidate {
        FileRecord record;
        std::string description;
    };
    std::vector<Candidate> batch;
    for (const auto& f : files) {
        validate_label(f.label);
        auto same_label = [&](const FileRecord& r) { return r.label == f.label; };
        if (std::any_of(s.files.begin(), s.files.end(), same_label) ||
            std::any_of(batch.begin(), batch.end(), [&](const Candidate& c) { return c.record.label == f.label; }))
            fail(ErrorKind::label_exists, "label " + quote(f.label) + " is already used in session " + quote(name));
        FileFacts facts = classifier_.inspect(f.fd, f.label);
        // A file comes back read-write after the update: preserving another user's file
        // (through an fd it lent, even read-only) would hand it over.
        if (!caller.is_root() && facts.owner != caller.uid)
            fail(ErrorKind::access_denied, quote(f.label) + " is another user's file: only its owner or root may "
                                                            "preserve it");
        auto same_file = [&](const FileRecord& r) { return r.ino == facts.ino && r.dev == facts.dev; };
        if (const std::string* holder = ledger_.holder_of(facts.dev, facts.ino))
            fail(ErrorKind::file_already_preserved,
                 quote(f.label) + " is already preserved" +
                     (may_access(caller, sessions_.at(*holder)) ? " in session " + quote(*holder) : std::string()));
        if (std::any_of(batch.begin(), batch.end(), [&](const Candidate& c) { return same_file(c.record); }))
            fail(ErrorKind::file_already_preserved, quote(f.label) + " is in the batch twice");
        Candidate c;
        c.description = facts.description;
        c.record = FileRecord{f.label, 0, facts.type, true, facts.device, facts.dev, facts.ino, facts.size, {}};
        batch.push_back(std::move(c));
    }
    if (!caller.is_root()) {
        Usage used = usage_of(caller.uid);
        std::uint64_t adding = 0;
        for (const Candidate& c : batch)
            adding += c.record.bytes;
        if (used.files + batch.size() > config_.max_files_per_user)
            fail(ErrorKind::quota_exceeded, "uid " + std::to_string(caller.uid) + " has " + std::to_string(used.files) +
                                                " files preserved; at most " +
                                                std::to_string(config_.max_files_per_user) +
                                                " are allowed (MaxFilesPerUser)");
        // Sizes, not pages in use: the kernel pins a sparse memfd's whole size.
        if (adding > bytes_per_user_ || used.bytes > bytes_per_user_ - adding)
            fail(ErrorKind::quota_exceeded, "uid " + std::to_string(caller.uid) + " has " +
                                                std::to_string(used.bytes) + " bytes preserved; " +
                                                std::to_string(adding) + " more would exceed its " +
                                                std::to_string(bytes_per_user_) + " (MaxBytesPerUser)");
    }

    // Write-ahead: the labels are recorded (pending) before the kernel sees the files, so a
    // crash in between loses no label of a file that may have been preserved.
    // s.files change from here on; counted again before observers hear of it.
    std::optional<LedgerChange> counted;
    counted.emplace(ledger_, s);
    std::size_t first = s.files.size();
    std::uint64_t next_token = s.next_token;
    for (auto& c : batch) {
        c.record.token = s.next_token++;
        s.files.push_back(c.record);
    }
    auto roll_back = [&](std::size_t keep) {
        s.files.resize(keep);
        s.next_token = keep == first ? next_token : s.next_token;
    };
    try {
        store_.write_session(s, StateStore::Write::ahead);  // refused, writing nothing, when the manifest cannot grow
    } catch (const ApiError&) {
        roll_back(first);
        throw;
    }
    fault_point("preserve-after-write-ahead");

    std::vector<std::uint64_t> tokens;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        FileRecord& r = s.files[first + i];
        try {
            s.kernel.preserve_fd(files[i].fd, r.token);
        } catch (const luo::Error& e) {
            std::string label = r.label;  // the roll-back below destroys r
            roll_back(first + i);
            counted.reset();
            store_.write_session(s);
            if (i > 0)
                notify_changed(s, {"FileCount", "Files"});
            try {
                fail_preserve(e, label, batch[i].description);
            } catch (const ApiError& api) {
                if (i == 0)
                    throw;
                throw ApiError(api.kind(), std::string(api.what()) + " (the " + std::to_string(i) +
                                               " files before it in this call were preserved)");
            }
        }
        r.pending = false;
        r.encoded.clear();
        tokens.push_back(r.token);
        if (i == 0)
            fault_point("preserve-midway");
    }
    counted.reset();
    store_.write_session(s);
    log::Fields f{{"LUO_SESSION", name}, {"LUO_OWNER_UID", std::to_string(s.owner.uid)}};
    spdlog::info("session '{}': {} file(s) preserved, {} in all", name, batch.size(), s.files.size());
    notify_changed(s, {"FileCount", "Files"});
    return tokens;
}

std::size_t SessionRegistry::file_count() const
{
    restore_all();
    return ledger_.files();
}

SessionRegistry::Released SessionRegistry::release_unclaimed(std::size_t most)
{
    // Every one in one turn held the event loop for as long as they all took: 300 sessions
    // under valgrind outlasted a LastUpdate read's 25 s (issue 12).
    if (store_.unrestored() > 0) {
        (void)restore_some(most);
        return {};
    }
    std::vector<std::string> unclaimed;
    for (auto it = sessions_.begin(); it != sessions_.end() && unclaimed.size() < most; ++it)
        if (it->second.kind == luo::SessionKind::incoming && it->second.state == SessionState::incoming)
            unclaimed.push_back(it->first);
    for (const auto& name : unclaimed) {
        SessionRecord& s = sessions_.at(name);
        log::Fields f{{"LUO_SESSION", name}, {"LUO_OWNER_UID", std::to_string(s.owner.uid)},
                      {"LUO_OWNER_UNIT", s.owner.unit}};
        SessionEnd how = SessionEnd::released;
        std::string reason = "not claimed within " + std::to_string(config_.unclaimed_timeout.count()) + " s";
        try {
            if (!s.kernel.valid() && device_.available())
                s.kernel = device_.retrieve_session(name);
            if (s.kernel.valid())
                s.kernel.finish();  // files never retrieved are discarded, their memory freed
            spdlog::warn("session '{}' was not claimed in time: released with its {} files", name, s.files.size());
        } catch (const luo::Error& e) {
            if (e.errno_value() == ENOENT) {
                how = SessionEnd::lost;
                reason = kNotCarried;
                spdlog::error("session '{}' was not claimed in time, and the kernel does not have it: lost", name);
            } else {
                // Closing it finishes it implicitly where possible; otherwise the kernel keeps
                // its resources until the next update.
                spdlog::error("session '{}' was not claimed in time and could not be finished ({}): closed", name,
                              e.what());
            }
        }
        notify_ended(s, how, reason);
        release(name);
    }
    return Released{unclaimed.size(), unclaimed.size() < most};
}

SessionRecord& SessionRegistry::retrieve_session(const Caller& caller, const std::string& name)
{
    restore(name);
    auto it = sessions_.find(name);
    if (it == sessions_.end() || it->second.kind != luo::SessionKind::incoming || !may_access(caller, it->second))
        fail(ErrorKind::no_such_session, "no session " + quote(name) + " came across the last update");
    SessionRecord& s = require(caller, name);
    if (s.state == SessionState::closed)
        fail(ErrorKind::invalid_state, "session " + quote(name) + " is closed");
    if (s.kernel.valid())
        return s;  // claimed already: the owner gets it again
    require_device();
    try {
        s.kernel = device_.retrieve_session(name);
    } catch (const luo::Error& e) {
        if (e.errno_value() == EBUSY)
            fail_device_busy(e, "retrieve session " + quote(name));
        if (e.errno_value() == ENOENT) {
            // luod's record says the update carried it; the kernel says otherwise. The record
            // goes (nothing can bring the session back) and the report says it was lost.
            log::Fields f{{"LUO_SESSION", name}, {"LUO_OWNER_UID", std::to_string(s.owner.uid)}};
            spdlog::error("session '{}' came across in luod's records but the kernel does not have it: lost", name);
            notify_ended(s, SessionEnd::lost, kNotCarried);
            release(name);
            fail(ErrorKind::no_such_session, "session " + quote(name) + " is lost: " + kNotCarried);
        }
        fail(ErrorKind::kernel_error, "LIVEUPDATE_IOCTL_RETRIEVE_SESSION of " + quote(name) + " failed: " + errno_text(e));
    }
    s.state = SessionState::retrieved;
    store_.keep_fd(luo::SessionKind::incoming, name, s.kernel.fd());
    store_.write_session(s);
    log::Fields f{{"LUO_SESSION", name}, {"LUO_OWNER_UID", std::to_string(s.owner.uid)}};
    spdlog::info("session '{}' claimed by uid {}", name, caller.uid);
    notify_changed(s, {"State"});
    return s;
}

luo::UniqueFd SessionRegistry::acquire_fd(const Caller& caller, const std::string& name)
{
    SessionRecord& s = require(caller, name);
    // Files preserved through an outgoing session's fd would escape luod's quotas and
    // records, and the fd would keep the session after Close: only root gets one.
    if (s.kind == luo::SessionKind::outgoing && !caller.is_root())
        fail(ErrorKind::access_denied, "only root may take an outgoing session's fd");
    if (s.state == SessionState::closed)
        fail(ErrorKind::invalid_state, "session " + quote(name) + " is closed");
    if (!s.kernel.valid())
        fail(ErrorKind::invalid_state, "session " + quote(name) + " has not been retrieved yet");
    luo::UniqueFd fd = luo::dup_fd(s.kernel.fd());
    if (!s.fd_handed_out) {
        // Recorded before the fd leaves: a restarted luod still knows that Close may not end it.
        s.fd_handed_out = true;
        try {
            store_.write_session(s);
        } catch (const ApiError&) {
            s.fd_handed_out = false;
            throw;
        }
    }
    return fd;
}

luo::UniqueFd SessionRegistry::retrieve_fd(const Caller& caller, const std::string& name, const std::string& label)
{
    SessionRecord& s = require(caller, name);
    if (s.kind != luo::SessionKind::incoming || !s.kernel.valid())
        fail(ErrorKind::invalid_state, "session " + quote(name) + " is not a retrieved incoming session");
    auto it = std::find_if(s.files.begin(), s.files.end(), [&](const FileRecord& f) { return f.label == label; });
    if (it == s.files.end())
        fail(ErrorKind::no_such_file, "no file " + quote(label) + " in session " + quote(name));
    try {
        return s.kernel.retrieve_fd(it->token);
    } catch (const luo::Error& e) {
        if (e.errno_value() == ENOENT)
            fail(ErrorKind::no_such_file, it->pending ? quote(label) + " was never preserved (luod stopped while preserving it)"
                                                      : quote(label) + " is no longer in session " + quote(name));
        fail(ErrorKind::kernel_error, "LIVEUPDATE_SESSION_RETRIEVE_FD of " + quote(label) + " failed: " + errno_text(e));
    }
}

void SessionRegistry::finish(const Caller& caller, const std::string& name)
{
    SessionRecord& s = require(caller, name);
    if (s.kind != luo::SessionKind::incoming || !s.kernel.valid())
        fail(ErrorKind::invalid_state, "only a retrieved incoming session can be finished");
    try {
        s.kernel.finish();
    } catch (const luo::Error& e) {
        fail(ErrorKind::kernel_error, "LIVEUPDATE_SESSION_FINISH of " + quote(name) + " failed: " + errno_text(e) +
                                          (e.errno_value() == EBUSY ? "; retrieve every device file first" : ""));
    }
    log::Fields f{{"LUO_SESSION", name}};
    spdlog::info("session '{}' finished", name);
    notify_ended(s, SessionEnd::finished, "");
    release(name);
}

void SessionRegistry::close(const Caller& caller, const std::string& name)
{
    SessionRecord& s = require(caller, name);
    log::Fields f{{"LUO_SESSION", name}, {"LUO_CALLER_UID", std::to_string(caller.uid)}};
    if (s.state == SessionState::closed) {
        reap_closed();  // nothing of luod's is left to let go of
        return;
    }
    spdlog::info("session '{}' closed by uid {}", name, caller.uid);
    if (!s.fd_handed_out) {
        release(name);
        return;
    }
    // A copy of the session fd went out (AcquireFd): the kernel keeps the session while it
    // is open, an outgoing one is carried by the next update. luod lets go of its own fds and
    // keeps the record, counted as its owner's, until the kernel no longer has the session.
    store_.drop_fd(s.kind, name);
    s.kernel = luo::Session();
    if (!kernel_still_has(s)) {
        release(name);
        return;
    }
    {
        LedgerChange counted(ledger_, s);
        s.state = SessionState::closed;
    }
    store_.write_session(s);
    spdlog::info("session '{}' is still held through an fd AcquireFd gave out: counted as uid {}'s until that "
                 "fd is closed",
                 name, s.owner.uid);
    notify_changed(s, {"State"});
}

bool SessionRegistry::kernel_still_has(const SessionRecord& session)
{
    if (!device_.available())
        return true;
    try {
        if (session.kind == luo::SessionKind::outgoing) {
            // The name was free: the session had ended. This empty one ends as it closes.
            luo::Session probe = device_.create_session(session.name);
            return false;
        }
        luo::Session probe = device_.retrieve_session(session.name);
        probe.finish();
        return false;
    } catch (const luo::Error& e) {
        return session.kind == luo::SessionKind::outgoing || e.errno_value() != ENOENT;
    }
}

void SessionRegistry::reap_closed()
{
    std::vector<std::string> gone;
    for (const std::string& name : ledger_.closed())
        if (!kernel_still_has(sessions_.at(name)))
            gone.push_back(name);
    for (const auto& name : gone) {
        log::Fields f{{"LUO_SESSION", name}};
        spdlog::info("session '{}' is gone: the last copy of its fd was closed", name);
        release(name);
    }
}

void SessionRegistry::release(const std::string& name)
{
    auto it = sessions_.find(name);
    if (it == sessions_.end())
        return;
    if (it->second.state != SessionState::closed)  // a closed one has nothing in the store
        store_.drop_fd(it->second.kind, name);
    ledger_.remove(it->second);
    SessionRecord gone = std::move(it->second);  // its kernel fd closes last
    sessions_.erase(it);
    store_.erase_session(name);
    notify_removed(gone);
}


void SessionRegistry::require_device() const
{
    if (!device_.available())
        fail(ErrorKind::device_unavailable, "/dev/liveupdate is not available to luod");
}

bool SessionRegistry::may_access(const Caller& caller, const SessionRecord& session)
{
    return may_access(caller, session.owner);
}

bool SessionRegistry::may_access(const Caller& caller, const Owner& owner)
{
    if (caller.is_root())
        return true;
    // A session belongs to its owner's uid and unit: another service of the same uid is
    // another owner. Sessions made outside any unit belong to the uid.
    return caller.uid == owner.uid && (owner.unit.empty() || owner.unit == caller.unit);
}

SessionRecord& SessionRegistry::require(const Caller& caller, const std::string& name)
{
    // Another owner's session reads exactly like an absent one: nobody learns what others have.
    restore(name);
    auto it = sessions_.find(name);
    if (it == sessions_.end() || !may_access(caller, it->second))
        fail(ErrorKind::no_such_session, "no session " + quote(name));
    return it->second;
}

const SessionRecord* SessionRegistry::find(const std::string& name) const
{
    restore(name);
    auto it = sessions_.find(name);
    return it == sessions_.end() ? nullptr : &it->second;
}

std::size_t SessionRegistry::outgoing_count() const { return ledger_.outgoing(); }

std::size_t SessionRegistry::count_of_kind(luo::SessionKind kind) const
{
    std::size_t n = static_cast<std::size_t>(
        std::count_if(sessions_.begin(), sessions_.end(), [&](const auto& s) { return s.second.kind == kind; }));
    if (kind != luo::SessionKind::incoming)
        return n;
    if (!store_.walk_pending())
        return n + store_.unrestored();
    const std::optional<luo::update::UpdateRecord>& carried = store_.update_record();
    return n + (carried ? carried->sessions : 0);
}

// Closed incoming sessions are not luod's to finish any more. Those not restored yet are
// incoming and unclaimed (the state store restores lazily only then).
std::size_t SessionRegistry::incoming_count() const { return ledger_.incoming() + store_.unrestored(); }

bool SessionRegistry::has_incoming() const { return ledger_.incoming() > 0 || store_.restore_pending(); }

void SessionRegistry::notify_changed(const SessionRecord& session, const std::vector<std::string>& properties)
{
    for (auto* o : std::vector(observers_))
        o->session_changed(session, properties);
}

void SessionRegistry::notify_added(const SessionRecord& session)
{
    for (auto* o : std::vector(observers_))
        o->session_added(session);
}

void SessionRegistry::notify_ended(const SessionRecord& session, SessionEnd how, const std::string& reason)
{
    for (auto* o : std::vector(observers_))
        o->session_ended(session, how, reason);
}

void SessionRegistry::notify_removed(const SessionRecord& gone)
{
    for (auto* o : std::vector(observers_))
        o->session_removed(gone);
}

}  // namespace luod
