// SPDX-License-Identifier: Apache-2.0
#include "state_store.h"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include <fstream>
#include <limits>
#include <set>

#include "api_error.h"
#include "clock.h"
#include "fault.h"
#include "log.h"
#include "luo/error.h"
#include "luo/paths.h"
#include "names.h"

namespace luod {

namespace {

constexpr std::uint64_t kManifestToken = 0;
// The index names at most a few thousand segments: two slots of 32 KiB.
constexpr std::size_t kIndexSize = 4096 + 2 * 32768;

std::string read_boot_id(const std::filesystem::path& root)
{
    std::ifstream in(luo::KernelPaths(root).boot_id());
    std::string id;
    in >> id;
    return id;
}

std::string hex_decode(std::string_view hex)
{
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    return out;
}

// The manifest's kinds and states are checked when it is decoded (manifest.cpp).
luo::SessionKind kind_from_manifest(const ManifestSession& ms)
{
    return luo::session_kind_from_string(ms.kind).value_or(luo::SessionKind::outgoing);
}

SessionState state_from_manifest(const ManifestSession& ms)
{
    return session_state_from_string(ms.state).value_or(SessionState::open);
}

// Whether the kernel holds `token` in an outgoing session; nullopt when it cannot be told.
// PRESERVE_FD checks the token before anything else (kernel-abi.md §1.5): asked with no fd,
// EEXIST means held, and a later check failing (EBADF for the missing fd, or ENOSPC/ENOMEM
// while growing the file set) means not held, with nothing preserved.
std::optional<bool> kernel_holds_token(luo::Session& session, std::uint64_t token)
{
    try {
        session.preserve_fd(-1, token);
    } catch (const luo::Error& e) {
        switch (e.errno_value()) {
        case EEXIST:
            return true;
        case EBADF:
        case ENOSPC:
        case ENOMEM:
            return false;
        default:
            return std::nullopt;
        }
    }
    return std::nullopt;  // no kernel accepts fd -1
}

std::vector<FileRecord> files_from_manifest(const ManifestSession& ms)
{
    std::vector<FileRecord> files;
    for (const ManifestFile& mf : ms.files)
        files.push_back(FileRecord{mf.label, mf.token, file_type_from_string(mf.type), mf.pending, mf.device, 0, 0,
                                        mf.bytes, {}});
    return files;
}

// The document a scanned log describes: its state and sessions replayed (each session's
// entries in order; sessions are independent of one another).
// A state entry and the report entry before it (none from an older luod, whose state entries
// carry the report themselves), in the order replay_manifest_log takes them.
std::vector<std::string> with_report(const std::string& report, const std::string& state)
{
    if (report.empty())
        return {state};
    return {report, state};
}

// The report entry that a state entry names ("report_at"), read alone from `log`; "" when it
// names none (an older luod's, or no report yet), or one that cannot be read (logged: the
// report is lost, the sessions and their owners are not).
std::string report_named_by(ManifestLog& log, const std::string& state)
try {
    nlohmann::json e = nlohmann::json::parse(state, nullptr, false);
    if (!e.is_object() || !e.contains("h") || !e["h"].is_object())
        return "";
    auto at = e["h"].find("report_at");
    if (at == e["h"].end())
        return "";
    if (!at->is_object() || !at->contains("offset") || !(*at)["offset"].is_number_unsigned())
        throw ManifestError("manifest: its state entry names its report badly");
    std::optional<std::string> report = log.read_entry((*at)["offset"].get<std::size_t>());
    if (!report || !report->starts_with("{\"r\":"))
        throw ManifestError("manifest: the report its state entry names cannot be read");
    return std::move(*report);
} catch (const std::exception& e) {
    spdlog::error("{}: the last update's report is lost", e.what());
    return "";
}

Manifest replay_scan(ManifestScan scan)
{
    std::vector<std::string> entries;
    if (!scan.report.empty())
        entries.push_back(std::move(scan.report));
    if (!scan.state.empty())
        entries.push_back(std::move(scan.state));
    for (auto& [name, list] : scan.sessions)
        for (std::string& e : list)
            entries.push_back(std::move(e));
    return replay_manifest_log(entries, scan.generation);
}

}  // namespace

StateStore::StateStore(const Config& config, FdStore& fd_store, DeviceAccess& device)
    : config_(config), fd_store_(fd_store), device_(device)
{
}

// ---- start-up (architecture.md §5.4) ----

std::map<std::string, SessionRecord> StateStore::restore(std::vector<std::pair<std::string, luo::UniqueFd>> listen_fds)
{
    Sessions sessions;
    boot_id_ = read_boot_id(device_.root());
    if (!device_.available())
        return sessions;
    std::map<std::string, luo::UniqueFd> fds;
    for (auto& [name, fd] : listen_fds)
        fds.emplace(name, std::move(fd));
    auto luod_key = FdStore::session_name(luo::SessionKind::outgoing, kLuodSession);
    auto previous_key = FdStore::session_name(luo::SessionKind::incoming, kLuodSession);
    if (fds.count(FdStore::kManifestName)) {
        restore_from_fd_store(sessions, fds);  // a restart within this boot
    } else if (fds.count(previous_key)) {
        // luod stopped while restoring after an update; its session from before is safe in
        // the store, its manifest at token 0 can be read again.
        luo::Session luod(std::move(fds[previous_key]), luo::SessionKind::incoming);
        fds.erase(previous_key);
        restore_after_update(sessions, std::move(luod), fds);
    } else if (fds.count(luod_key)) {
        // systemd carried luod's sessions across a kexec and retrieved them: they are
        // incoming now, and the manifest is at token 0 of the "luod" one.
        luo::Session luod(std::move(fds[luod_key]), luo::SessionKind::incoming);
        fds.erase(luod_key);
        // Kept in the store under its incoming name until every session is restored. A rename:
        // systemd keeps a file once, under its first name, so storing it again under the new
        // name first would be ignored, and removing the old name then would leave the manifest
        // that came across to this luod alone (lost with every session if it died meanwhile).
        fd_store_.rename(luod_key, previous_key, luod.fd());
        restore_after_update(sessions, std::move(luod), fds);
    } else {
        luo::Session luod;
        try {
            luod = device_.retrieve_session(kLuodSession);
        } catch (const luo::Error& e) {
            if (e.errno_value() != ENOENT)
                spdlog::error("cannot retrieve luod's session from the last update: {}", e.what());
        }
        lap("luod-session");
        if (luod.valid()) {
            // Closing it would finish it and discard the manifest: the store keeps it until
            // the manifest is read and written anew.
            fd_store_.store(previous_key, luod.fd());
            fault_point("restore-after-retrieve");
            restore_after_update(sessions, std::move(luod), fds);
        } else {
            start_fresh();
        }
    }
    for (auto& [name, fd] : fds)
        spdlog::warn("closing fd '{}' from the fd store: nothing of luod's", name);
    return sessions;
}

void StateStore::start_fresh()
{
    luo::Session luod;
    try {
        luod = device_.create_session(kLuodSession);
    } catch (const luo::Error& e) {
        if (e.errno_value() == EEXIST)
            throw std::runtime_error("a kernel session named 'luod' exists but luod has no fd for it: is another "
                                     "luod running, or did the service manager lose its fd store?");
        throw;
    }
    lap("luod-session-new");
    ManifestStore index = ManifestStore::create(kIndexSize);
    luod.preserve_fd(index.fd(), kManifestToken);
    lap("index-new");
    attach_luod_session(std::move(luod), std::move(index));
}

void StateStore::attach_luod_session(luo::Session session, ManifestStore index)
{
    luod_session_ = std::move(session);
    index_.emplace(std::move(index));
    // Segments belong to one session of luod's: a new session starts new chains.
    log_.reset();
    spare_.reset();
    report_at_.reset();
    report_bytes_ = 0;
    next_token_ = kManifestToken + 1;
    rewrite(0);
    fd_store_.store(FdStore::session_name(luo::SessionKind::outgoing, kLuodSession), luod_session_.fd());
    fd_store_.store(FdStore::kManifestName, index_->fd());
}

ManifestScan StateStore::scan_manifest(const ManifestStore& index,
                                       const std::function<luo::UniqueFd(std::uint64_t)>& segment_fd,
                                       bool keep_chains, std::optional<Manifest>& whole)
{
    std::optional<std::string> text = index.read();
    if (!text)
        throw ManifestError("manifest: its index is unreadable");
    nlohmann::json doc = nlohmann::json::parse(*text, nullptr, false);
    if (doc.is_object() && doc.value("format", "") == "luod-manifest") {
        whole = decode_manifest(*text);  // an older luod's: the whole document in one place
        return {};
    }
    ManifestIndex ix = decode_manifest_index(*text);
    ManifestLog log(ix.epoch, ix.segment_size);
    for (std::uint64_t token : ix.active) {
        luo::UniqueFd fd = segment_fd(token);
        if (!fd)
            throw ManifestError("manifest: segment " + std::to_string(token) + " of its log is missing");
        log.add_segment(token, std::move(fd));
    }
    ManifestScan scan = scan_manifest_log(log.read());
    scan.generation = ix.epoch;
    if (keep_chains) {
        ManifestLog spare(ix.epoch, ix.segment_size);
        for (std::uint64_t token : ix.spare)
            if (luo::UniqueFd fd = segment_fd(token))
                spare.add_segment(token, std::move(fd));
        // The log continues where it ended; segments not in the index keep their tokens.
        log_.emplace(std::move(log));
        spare_.emplace(std::move(spare));
        next_token_ = ix.next_token;
    }
    whole.reset();
    return scan;
}

Manifest StateStore::read_manifest(const ManifestStore& index,
                                   const std::function<luo::UniqueFd(std::uint64_t)>& segment_fd, bool keep_chains)
{
    std::optional<Manifest> whole;
    ManifestScan scan = scan_manifest(index, segment_fd, keep_chains, whole);
    if (whole)
        return *whole;
    return replay_scan(std::move(scan));
}

void StateStore::finish_previous_luod_session(luo::Session previous)
{
    try {
        previous.finish();
    } catch (const luo::Error& e) {
        spdlog::warn("finishing luod's own session from the last update failed: {}", e.what());
    }
    fd_store_.remove(FdStore::session_name(luo::SessionKind::incoming, kLuodSession));
}

void StateStore::adopt(Sessions& sessions, SessionRecord record)
{
    Written w;
    w.header = encode_header(record);
    for (const FileRecord& f : record.files) {
        f.encoded = encode_file(ManifestFile{f.label, f.token, std::string(to_string(f.type)), f.pending, f.device, f.bytes});
        w.files.emplace(f.token, f.encoded);
    }
    w.bytes = ManifestLog::entry_size(session_entry_size(record.name, w));
    written_.insert_or_assign(record.name, std::move(w));
    std::string name = record.name;
    sessions.emplace(std::move(name), std::move(record));
}

void StateStore::resolve_pending_files(SessionRecord& session)
{
    if (session.kind != luo::SessionKind::outgoing || !session.kernel.valid())
        return;
    bool changed = false;
    for (auto it = session.files.begin(); it != session.files.end();) {
        if (!it->pending) {
            ++it;
            continue;
        }
        log::Fields f{{"LUO_SESSION", session.name}};
        std::optional<bool> held = kernel_holds_token(session.kernel, it->token);
        if (!held) {
            spdlog::warn("session '{}': cannot tell whether '{}', being preserved when luod stopped, was",
                         printable(session.name), printable(it->label));
            ++it;
            continue;
        }
        changed = true;
        if (*held) {
            spdlog::info("session '{}': '{}' was being preserved when luod stopped: the kernel has it, kept",
                         printable(session.name), printable(it->label));
            it->pending = false;
            it->encoded.clear();
            ++it;
        } else {
            spdlog::info("session '{}': '{}' was being preserved when luod stopped: it was not, dropped",
                         printable(session.name), printable(it->label));
            it = session.files.erase(it);
        }
    }
    if (!changed)
        return;
    try {
        write_session(session);
    } catch (const std::exception& e) {
        spdlog::error("session '{}': writing its resolved files to the manifest failed: {}", printable(session.name),
                      e.what());
    }
}

void StateStore::restore_from_fd_store(Sessions& sessions, std::map<std::string, luo::UniqueFd>& fds)
{
    auto take = [&](const std::string& key) {
        auto it = fds.find(key);
        luo::UniqueFd fd;
        if (it != fds.end()) {
            fd = std::move(it->second);
            fds.erase(it);
        }
        return fd;
    };
    ManifestStore store = ManifestStore::adopt(take(FdStore::kManifestName));
    // luod's session from before an update, when luod stopped while restoring it.
    luo::UniqueFd previous = take(FdStore::session_name(luo::SessionKind::incoming, kLuodSession));
    Manifest manifest;
    bool resume = false;           // the manifest says sessions of the update were not restored yet
    std::set<std::string> erased;  // sessions restored and gone since
    try {
        std::optional<Manifest> whole;
        ManifestScan scan =
            scan_manifest(store, [&](std::uint64_t token) { return take(FdStore::segment_name(token)); }, true, whole);
        if (whole) {
            manifest = std::move(*whole);
        } else {
            nlohmann::json state = nlohmann::json::parse(scan.state, nullptr, false);
            resume = state.is_object() && state.contains("h") && state["h"].is_object() &&
                     state["h"].value("restoring", false);
            erased = scan.erased;
            manifest = replay_scan(std::move(scan));
        }
    } catch (const std::exception& e) {
        spdlog::error("{}: starting with no session records", e.what());
        log_.reset();
        spare_.reset();
    }
    live_update_count_ = manifest.live_update_count;
    update_ = luo::update::update_record_from_json(manifest.update);
    last_update_ = luo::update::update_report_from_json(manifest.last_update);

    luo::UniqueFd luod_fd = take(FdStore::session_name(luo::SessionKind::outgoing, kLuodSession));
    if (luod_fd) {
        luod_session_ = luo::Session(std::move(luod_fd), luo::SessionKind::outgoing);
        index_.emplace(std::move(store));
        if (!log_)
            next_token_ = kManifestToken + 1;  // tokens in use are skipped as segments are added
    } else {
        // luod's own session is gone (so is the manifest's preservation): start it again
        // around the same manifest memfd.
        spdlog::warn("luod's own session was not in the fd store: creating it again");
        luo::Session luod = device_.create_session(kLuodSession);
        luod.preserve_fd(store.fd(), kManifestToken);
        attach_luod_session(std::move(luod), std::move(store));
    }

    for (const ManifestSession& ms : manifest.sessions) {
        luo::SessionKind kind = kind_from_manifest(ms);
        luo::UniqueFd fd = take(FdStore::session_name(kind, ms.name));
        // An incoming session nobody claimed yet has no fd: the kernel keeps it for RETRIEVE.
        bool unclaimed = kind == luo::SessionKind::incoming && state_from_manifest(ms) == SessionState::incoming;
        // A closed session has no fd of luod's either: whoever took it with AcquireFd has one.
        bool closed = state_from_manifest(ms) == SessionState::closed;
        if (!fd && ms.pending) {
            spdlog::info("session '{}' was being created when luod stopped: it was not", ms.name);
            continue;
        }
        if (!fd && !unclaimed && !closed) {
            log::Fields f{{"LUO_SESSION", ms.name}};
            spdlog::error("session '{}' is lost: its fd was not in the fd store", ms.name);
            continue;
        }
        SessionRecord r;
        r.name = ms.name;
        r.kind = kind;
        r.state = state_from_manifest(ms);
        r.owner = Owner{ms.owner_uid, ms.owner_unit};
        r.created_usec = ms.created_usec;
        r.next_token = ms.next_token;
        r.files = files_from_manifest(ms);
        r.fd_handed_out = ms.fd_handed_out;
        if (ms.pending)
            spdlog::info("session '{}' was being created when luod stopped: it was, and is kept", ms.name);
        if (fd)
            r.kernel = luo::Session(std::move(fd), kind);
        if (r.kernel.valid() && device_.features().get_name) {
            try {
                if (r.kernel.get_name() != r.name) {
                    spdlog::error("fd stored for session '{}' is another session: dropped", r.name);
                    continue;
                }
            } catch (const luo::Error& e) {
                spdlog::error("fd stored for session '{}' is not a LUO session ({}): dropped", r.name, e.what());
                continue;
            }
        }
        adopt(sessions, std::move(r));
    }
    if (previous) {
        luo::Session before(std::move(previous), luo::SessionKind::incoming);
        if (resume && log_) {
            // luod stopped while restoring an update: the sessions it had not restored yet are
            // read again from the manifest that came across (those restored and gone since stay gone).
            auto keep = [&](const std::string& name) {
                return !sessions.count(name) && !erased.count(name) && name != kLuodSession;
            };
            try {
                std::optional<Manifest> whole;
                ManifestStore old = ManifestStore::adopt(before.retrieve_fd(kManifestToken));
                ManifestScan old_scan = scan_manifest(
                    old, [&](std::uint64_t token) { return before.retrieve_fd(token); }, false, whole);
                if (whole)
                    for (ManifestSession& ms : whole->sessions)
                        if (keep(ms.name)) {
                            old_scan.sessions[ms.name];
                            unrestored_[ms.name].decoded = std::move(ms);
                        }
                leave_unrestored(std::move(old_scan), fds, keep);
            } catch (const std::exception& e) {
                spdlog::error("cannot read again the manifest that came across ({}): the sessions not restored yet "
                              "have no owners or labels",
                              e.what());
            }
            previous_luod_ = std::move(before);
            restoring_ = true;
        } else {
            // Left over when luod stopped right after restoring an update: its job is done.
            finish_previous_luod_session(std::move(before));
        }
    }
    // Sessions created just before a crash, stored but not yet in the manifest: kept, owned
    // by root, since their owner is unknown.
    for (auto it = fds.begin(); it != fds.end();) {
        const std::string& key = it->first;
        bool outgoing = key.rfind("luo-s-", 0) == 0;
        if ((outgoing || key.rfind("luo-i-", 0) == 0) && key.size() % 2 == 0) {
            std::string name = hex_decode(std::string_view(key).substr(6));
            if (!sessions.count(name) && name != kLuodSession) {
                auto kind = outgoing ? luo::SessionKind::outgoing : luo::SessionKind::incoming;
                SessionRecord r;
                r.name = name;
                r.kind = kind;
                r.state = outgoing ? SessionState::open : SessionState::retrieved;
                r.created_usec = realtime_usec();
                r.kernel = luo::Session(std::move(it->second), kind);
                spdlog::warn("session '{}' was in the fd store but not in the manifest: kept, owned by root",
                             printable(name));
                adopt(sessions, std::move(r));
                it = fds.erase(it);
                continue;
            }
        }
        ++it;
    }
    // The records as restored: sessions found lost are erased and each kept one written whole,
    // appended to the log as it stood (a rewrite would add segments to luod's session).
    try {
        if (!log_) {
            rewrite(0);
        } else {
            for (const ManifestSession& ms : manifest.sessions)
                if (!sessions.count(ms.name))
                    append("{\"n\":" + nlohmann::json(ms.name).dump() + ",\"x\":true}", Write::outcome);
            for (const auto& [name, w] : written_)
                append(session_entry(name, w), Write::outcome);
        }
    } catch (const std::exception& e) {
        spdlog::error("writing the restored records to the manifest failed: {}", e.what());
    }
    for (auto& [name, r] : sessions)
        resolve_pending_files(r);
    if (restoring_ && unrestored_.empty())
        finish_restoring();
    spdlog::info("restored {} sessions from the fd store (manifest generation {}){}", sessions.size(),
                 manifest.generation,
                 unrestored_.empty() ? "" : "; " + std::to_string(unrestored_.size()) + " of the update still to restore");
}

void StateStore::restore_after_update(Sessions& sessions, luo::Session luod,
                                      std::map<std::string, luo::UniqueFd>& carried)
{
    restored_from_update_ = true;
    Manifest state;
    ManifestScan scan;
    std::optional<Manifest> whole;
    // Kept until every session is restored (in the fd store as the incoming "luod", restore()):
    // the log that came across is read from it, a segment at a time, until then.
    previous_luod_ = std::move(luod);
    luo::Session& before = previous_luod_;
    try {
        ManifestStore old = ManifestStore::adopt(before.retrieve_fd(kManifestToken));
        lap("manifest-index");
        if (!walk_manifest(old, before, state, true)) {
            scan = scan_manifest(old, [&](std::uint64_t token) { return before.retrieve_fd(token); }, false, whole);
            if (whole)
                state = *whole;
            else if (!scan.state.empty())
                state = replay_manifest_log(with_report(scan.report, scan.state), scan.generation);
        }
    } catch (const std::exception& e) {
        spdlog::error("cannot read the manifest that came across ({}): incoming sessions have no owners or labels",
                      e.what());
        scan = ManifestScan();
        whole.reset();
        unrestored_.clear();
        previous_log_.reset();
        walk_pending_ = false;
        state = Manifest();
    }
    live_update_count_ = state.live_update_count + 1;
    update_ = luo::update::update_record_from_json(state.update);
    last_update_ = luo::update::update_report_from_json(state.last_update);
    // This boot's manifest first, marked as restoring: from here on a restart resumes from it
    // and luod's session from before, which it keeps until every session is restored.
    restoring_ = true;
    fd_store_.remove(FdStore::session_name(luo::SessionKind::outgoing, kLuodSession));
    start_fresh();
    lap("new-manifest");
    if (whole) {
        for (ManifestSession& ms : whole->sessions) {
            std::string name = ms.name;
            scan.sessions[name];  // known to the manifest: not one systemd alone carried
            unrestored_[name].decoded = std::move(ms);
        }
    }
    // The sessions' fds systemd carried: matched with the manifest's sessions once its log is
    // walked (walk_previous_log()), or now when it was walked already.
    for (auto it = carried.begin(); walk_pending_ && it != carried.end();) {
        if (it->first.rfind("luo-s-", 0) == 0) {
            carried_.insert(std::move(*it));
            it = carried.erase(it);
        } else {
            ++it;
        }
    }
    leave_unrestored(std::move(scan), carried, [](const std::string&) { return true; });
    for (auto& [name, u] : unrestored_) {  // those walked: the fds systemd carried for them
        auto key = FdStore::session_name(luo::SessionKind::outgoing, name);
        if (auto it = carried.find(key); !u.carried && it != carried.end()) {
            u.carried = std::move(it->second);
            carried.erase(it);
        }
    }
    // Sessions systemd carried that the manifest does not name: kept, owned by root.
    for (auto it = carried.begin(); it != carried.end();) {
        if (it->first.rfind("luo-s-", 0) != 0) {
            ++it;
            continue;
        }
        SessionRecord r;
        r.name = hex_decode(std::string_view(it->first).substr(6));
        r.kind = luo::SessionKind::incoming;
        r.state = SessionState::incoming;
        r.kernel = luo::Session(std::move(it->second), luo::SessionKind::incoming);
        spdlog::warn("session '{}' came across but is not in the manifest: kept, owned by root", printable(r.name));
        fd_store_.rename(it->first, FdStore::session_name(luo::SessionKind::incoming, r.name), r.kernel.fd());
        try {
            write_session(r);
        } catch (const std::exception& e) {
            spdlog::error("session '{}': writing its record failed: {}", printable(r.name), e.what());
        }
        std::string name = r.name;
        sessions.emplace(std::move(name), std::move(r));
        it = carried.erase(it);
    }
    // The sessions wait for their owners or the background, unless the update's record says
    // otherwise than the manifest (an older luod's manifest, or sessions of an update before
    // this one that nobody claimed, which go): then all are restored now.
    std::size_t count = walk_pending_ && update_ ? update_->sessions : unrestored_.size();
    bool lazily = walk_pending_ || (!whole && update_ && update_->sessions == count);
    if (!lazily) {
        while (!unrestored_.empty()) {
            std::string name = unrestored_.begin()->first;
            if (std::optional<SessionRecord> r = restore_session(name))
                sessions.emplace(name, std::move(*r));
        }
    }
    if (!walk_pending_ && unrestored_.empty() && restoring_)
        finish_restoring();
    spdlog::info("live update #{}: {} sessions came across{}{}", live_update_count_, count,
                 lazily ? ", each restored when claimed or in the background" : "",
                 walk_pending_ ? " (the manifest's log is walked once luod is ready)" : "");
}

bool StateStore::walk_manifest(const ManifestStore& index, luo::Session& previous, Manifest& state, bool may_defer)
{
    std::optional<std::string> text = index.read();
    if (!text)
        throw ManifestError("manifest: its index is unreadable");
    nlohmann::json doc = nlohmann::json::parse(*text, nullptr, false);
    if (doc.is_object() && doc.value("format", "") == "luod-manifest")
        return false;  // an older luod's whole document
    ManifestIndex ix = decode_manifest_index(*text);
    ManifestLog log(ix.epoch, ix.segment_size);
    // Each segment is retrieved from the kernel when first read: the kernel restores all its
    // pages then (an 8 MiB segment per some 5,000 sessions). `previous` outlives the log.
    for (std::uint64_t token : ix.active)
        log.add_segment_later(token, [&previous](std::uint64_t t) { return previous.retrieve_fd(t); });
    // The update's final record is the log's last entry, and the index says where it is: luod
    // reads that entry (retrieving only the segments it is in) and is ready; the rest of the
    // log waits (walk_previous_log()).
    if (may_defer && ix.last_state) {
        if (std::optional<std::string> last = log.read_last(ix.last_state->offset, ix.last_state->seq)) {
            bool erases = false;
            if (!manifest_entry_session(*last, erases)) {
                state = replay_manifest_log(with_report(report_named_by(log, *last), *last), ix.epoch);
                spdlog::debug("read the update's final record from the manifest that came across: {} of its log's {} "
                              "segments retrieved ({} bytes in all), the others when the walk reaches them",
                              log.segments_fetched(), ix.active.size(), log.capacity());
                lap("manifest-last");
                previous_log_.emplace(std::move(log));
                walk_pending_ = true;
                return true;
            }
        }
    }
    if (std::optional<std::size_t> state_at = sort_log(log)) {
        std::optional<std::string> entry = log.read_entry(*state_at);
        if (!entry)
            throw ManifestError("manifest: its state entry cannot be read");
        state = replay_manifest_log(with_report(report_named_by(log, *entry), *entry), ix.epoch);
    }
    spdlog::debug("walked the manifest that came across before luod is ready: its log's {} segments ({} bytes)",
                  ix.active.size(), log.capacity());
    lap("manifest-walk");
    previous_log_.emplace(std::move(log));
    return true;
}

namespace {

// Enough of an entry to tell whose it is: {"n":"<name>" (names are shorter than 64 bytes).
constexpr std::size_t kEntryHead = 96;

// A visitor of a walk of `log` that sorts its entries by session (where each is, in order;
// a session erased is dropped with its entries) and notes where the last state entry is.
ManifestLog::Visit entry_sorter(ManifestLog& log, std::map<std::string, std::vector<ManifestLog::Extent>>& sessions,
                                std::optional<std::size_t>& state_at)
{
    return [&log, &sessions, &state_at](std::size_t offset, std::size_t length, std::string_view head) {
        std::string name;
        std::optional<ManifestEntryKind> kind = classify_manifest_entry(head, length, name);
        if (!kind) {
            std::optional<std::string> whole = log.read_entry(offset);
            if (!whole)
                throw ManifestError("manifest: an entry of its log cannot be read");
            bool erases = false;
            std::optional<std::string> of = manifest_entry_session(*whole, erases);
            kind = !of ? ManifestEntryKind::state : erases ? ManifestEntryKind::erasure : ManifestEntryKind::session;
            name = of.value_or("");
        }
        switch (*kind) {
        case ManifestEntryKind::state:
            state_at = offset;
            break;
        case ManifestEntryKind::report:  // read through the state entry that names it
            break;
        case ManifestEntryKind::erasure:
            sessions.erase(name);
            break;
        case ManifestEntryKind::session:
            sessions[name].push_back(ManifestLog::Extent{offset, length});
            break;
        }
    };
}

}  // namespace

std::optional<std::size_t> StateStore::sort_log(ManifestLog& log)
{
    std::optional<std::size_t> state_at;
    std::map<std::string, std::vector<ManifestLog::Extent>> sessions;
    log.walk(kEntryHead, entry_sorter(log, sessions, state_at));
    for (auto& [name, extents] : sessions)
        unrestored_[name].extents = std::move(extents);
    return state_at;
}

void StateStore::walk_previous_log() { (void)walk_some(std::numeric_limits<std::size_t>::max()); }

bool StateStore::walk_some(std::size_t most)
{
    if (!walk_pending_)
        return true;
    auto began = std::chrono::steady_clock::now();
    bool done = false;
    try {
        if (!walk_) {
            walk_began_ = began;
            walk_.emplace(*previous_log_, kEntryHead);
        }
        std::optional<std::size_t> state_at;  // the update's final record was read at start
        done = walk_->step(most, entry_sorter(*previous_log_, walked_, state_at));
    } catch (const std::exception& e) {
        spdlog::error("cannot read the manifest that came across ({}): incoming sessions have no owners or labels",
                      e.what());
        walked_.clear();
        unrestored_.clear();
        done = true;
    }
    walk_work_ += std::chrono::steady_clock::now() - began;
    ++walk_steps_;
    if (done)
        finish_walk();
    return done;
}

void StateStore::finish_walk()
{
    using std::chrono::duration_cast;
    using std::chrono::microseconds;
    walk_pending_ = false;
    std::size_t entries = walk_ ? walk_->visited() : 0;
    walk_.reset();
    for (auto& [name, extents] : walked_)
        unrestored_[name].extents = std::move(extents);
    walked_.clear();
    std::size_t expected = update_ ? update_->sessions : 0;
    spdlog::debug("walked the manifest that came across: {} sessions, {} entries in {} steps, {} us of work over {} us",
                  unrestored_.size(), entries, walk_steps_, duration_cast<microseconds>(walk_work_).count(),
                  duration_cast<microseconds>(std::chrono::steady_clock::now() - walk_began_).count());
    if (unrestored_.size() != expected)
        spdlog::info("the manifest that came across names {} sessions, the update's record {}", unrestored_.size(),
                     expected);
    // The fds systemd carried: each with its session; one the manifest does not name is kept,
    // owned by root (restore_session()).
    for (auto& [name, u] : unrestored_) {
        auto it = carried_.find(FdStore::session_name(luo::SessionKind::outgoing, name));
        if (!u.carried && it != carried_.end()) {
            u.carried = std::move(it->second);
            carried_.erase(it);
        }
    }
    for (auto& [key, fd] : carried_) {
        Unrestored& u = unrestored_[hex_decode(std::string_view(key).substr(6))];
        u.carried = std::move(fd);
        u.unknown_to_manifest = true;
    }
    carried_.clear();
    if (unrestored_.empty() && restoring_)
        finish_restoring();
}

void StateStore::leave_unrestored(ManifestScan scan, std::map<std::string, luo::UniqueFd>& carried,
                                  const std::function<bool(const std::string&)>& keep)
{
    for (auto& [name, entries] : scan.sessions) {
        if (!keep(name))
            continue;
        Unrestored& u = unrestored_[name];
        u.entries = std::move(entries);
        auto key = FdStore::session_name(luo::SessionKind::outgoing, name);
        if (auto it = carried.find(key); it != carried.end()) {
            u.carried = std::move(it->second);
            carried.erase(it);
        }
    }
}

std::size_t StateStore::unrestored()
{
    walk_previous_log();
    return unrestored_.size();
}

bool StateStore::is_unrestored(const std::string& name)
{
    walk_previous_log();
    return unrestored_.count(name) > 0;
}

std::vector<std::string> StateStore::unrestored_names(std::size_t most)
{
    walk_previous_log();
    std::vector<std::string> names;
    for (auto it = unrestored_.begin(); it != unrestored_.end() && names.size() < most; ++it)
        names.push_back(it->first);
    return names;
}

std::vector<std::string> StateStore::unrestored_after(const std::string& after, std::size_t most)
{
    walk_previous_log();
    std::vector<std::string> names;
    for (auto it = unrestored_.upper_bound(after); it != unrestored_.end() && names.size() < most; ++it)
        names.push_back(it->first);
    return names;
}

std::optional<SessionRecord> StateStore::restore_session(const std::string& name)
{
    walk_previous_log();
    auto it = unrestored_.find(name);
    if (it == unrestored_.end())
        return std::nullopt;
    Unrestored u = std::move(it->second);
    unrestored_.erase(it);
    std::optional<SessionRecord> out;
    log::Fields f{{"LUO_SESSION", name}};
    try {
        if (u.unknown_to_manifest) {
            SessionRecord r;
            r.name = name;
            r.kind = luo::SessionKind::incoming;
            r.state = SessionState::incoming;
            r.kernel = luo::Session(std::move(u.carried), luo::SessionKind::incoming);
            spdlog::warn("session '{}' came across but is not in the manifest: kept, owned by root", printable(name));
            fd_store_.rename(FdStore::session_name(luo::SessionKind::outgoing, name),
                             FdStore::session_name(luo::SessionKind::incoming, name), r.kernel.fd());
            try {
                write_session(r);
            } catch (const std::exception& e) {
                spdlog::error("session '{}': writing its record failed: {}", printable(name), e.what());
            }
            fault_point("restore-midway");
            if (unrestored_.empty() && restoring_)
                finish_restoring();
            return r;
        }
        ManifestSession ms = read_unrestored(u);
        if (kind_from_manifest(ms) == luo::SessionKind::incoming) {
            spdlog::warn("session '{}' came from the update before and was never claimed: it is gone", ms.name);
        } else {
            SessionRecord r;
            r.name = ms.name;
            r.kind = luo::SessionKind::incoming;
            r.state = SessionState::incoming;
            r.owner = Owner{ms.owner_uid, ms.owner_unit};
            r.created_usec = ms.created_usec;
            r.next_token = ms.next_token;
            r.files = files_from_manifest(ms);
            if (u.carried) {
                r.kernel = luo::Session(std::move(u.carried), luo::SessionKind::incoming);
                fd_store_.rename(FdStore::session_name(luo::SessionKind::outgoing, name),
                                 FdStore::session_name(luo::SessionKind::incoming, name), r.kernel.fd());
            }
            try {
                write_session(r);
            } catch (const std::exception& e) {
                // The manifest from before still has it: a restart restores it from there.
                spdlog::error("session '{}': writing its restored record failed: {}", printable(name), e.what());
            }
            out = std::move(r);
        }
    } catch (const std::exception& e) {
        spdlog::error("session '{}' from the manifest that came across cannot be read ({}): it is dropped",
                      printable(name), e.what());
    }
    fault_point("restore-midway");
    if (unrestored_.empty() && restoring_)
        finish_restoring();
    return out;
}

ManifestSession StateStore::read_unrestored(const Unrestored& u)
{
    if (u.decoded)
        return *u.decoded;
    if (u.extents.empty())
        return replay_session(u.entries);
    // Its entries in as few reads as they allow (usually one: they lie together in the log).
    std::optional<std::vector<std::string>> read =
        previous_log_ ? previous_log_->read_entries(u.extents) : std::nullopt;
    if (!read)
        throw ManifestError("manifest: an entry of it cannot be read");
    std::vector<std::string> entries = u.entries;
    for (std::string& entry : *read)
        entries.push_back(std::move(entry));
    return replay_session(entries);
}

std::optional<StateStore::Glance> StateStore::glance(const std::string& name)
{
    walk_previous_log();
    auto it = unrestored_.find(name);
    if (it == unrestored_.end())
        return std::nullopt;
    Unrestored& u = it->second;
    if (u.glanced)
        return *u.glanced;
    std::optional<Glance> seen;
    if (u.unknown_to_manifest) {
        seen = Glance{Owner{}, 0};  // kept, owned by root, as restore_session() keeps it
    } else {
        try {
            // Nothing of it is kept but the answer: restore_session() reads it again (and logs
            // what fails), and a session's record costs more memory than its glance.
            ManifestSession ms = read_unrestored(u);
            if (kind_from_manifest(ms) != luo::SessionKind::incoming) {
                seen = Glance{Owner{ms.owner_uid, ms.owner_unit}, ms.files.size(), 0};
                for (const ManifestFile& f : ms.files)
                    seen->bytes += f.bytes;
            }
        } catch (const std::exception&) {
            // Restoring drops it: seen stays empty.
        }
    }
    u.glanced = seen;
    return seen;
}

bool StateStore::glance_some(std::size_t most)
{
    walk_previous_log();
    auto it = glanced_up_to_ ? unrestored_.upper_bound(*glanced_up_to_) : unrestored_.begin();
    for (std::size_t n = 0; it != unrestored_.end() && n < most; ++it, ++n) {
        (void)glance(it->first);
        glanced_up_to_ = it->first;
    }
    return it == unrestored_.end();
}

void StateStore::finish_restoring()
{
    restoring_ = false;
    try {
        append_state(Write::outcome);
    } catch (const std::exception& e) {
        spdlog::error("writing the end of the restore to the manifest failed: {}", e.what());
    }
    fault_point("restore-before-finish");
    walk_.reset();  // of previous_log_
    previous_log_.reset();
    finish_previous_luod_session(std::move(previous_luod_));
    spdlog::info("every session of live update #{} is restored", live_update_count_);
}

// ---- records ----

std::string StateStore::encode_header(const SessionRecord& r)
{
    ManifestSession head;
    head.name = r.name;
    head.kind = luo::to_string(r.kind);
    head.state = std::string(to_string(r.state));
    head.owner_uid = r.owner.uid;
    head.owner_unit = r.owner.unit;
    head.created_usec = r.created_usec;
    head.next_token = r.next_token;
    head.pending = r.pending;
    head.fd_handed_out = r.fd_handed_out;
    return assemble_session(head, {});
}

namespace {

constexpr std::string_view kEntryName = "{\"n\":", kEntryHeader = ",\"s\":", kEntryFiles = ",\"f\":[",
                           kEntryEnd = "]}";

}  // namespace

std::string StateStore::session_entry(const std::string& name, const Written& w)
{
    std::string text;
    text.reserve(session_entry_size(name, w));
    text.append(kEntryName).append(nlohmann::json(name).dump()).append(kEntryHeader).append(w.header);
    text.append(kEntryFiles);
    bool first = true;
    for (const auto& [token, file] : w.files) {
        if (!first)
            text += ',';
        first = false;
        text += file;
    }
    return text.append(kEntryEnd);
}

std::size_t StateStore::session_entry_size(const std::string& name, const Written& w)
{
    std::size_t size = kEntryName.size() + nlohmann::json(name).dump().size() + kEntryHeader.size() + w.header.size() +
        kEntryFiles.size() + kEntryEnd.size();
    for (const auto& [token, file] : w.files)
        size += file.size();
    return size + (w.files.empty() ? 0 : w.files.size() - 1);  // the commas
}

std::string StateStore::state_entry() const
{
    nlohmann::json h{{"written_usec", realtime_usec()},
                     {"boot_id", boot_id_},
                     {"live_update_count", live_update_count_},
                     {"update", luo::update::to_json(update_)}};
    // The report is an entry of its own, written when it changes (append_report()): a state
    // entry, such as the update's final record before the reboot, only names it (issue 12).
    if (report_at_)
        h["report_at"] = {{"offset", report_at_->offset}, {"seq", report_at_->seq}};
    if (restoring_)
        h["restoring"] = true;  // sessions of the update wait in luod's session from before
    return nlohmann::json{{"h", std::move(h)}}.dump();
}

void StateStore::write_session(const SessionRecord& session, Write kind)
{
    auto found = written_.find(session.name);
    static const Written nothing;
    const Written& before = found == written_.end() ? nothing : found->second;
    Written after;
    after.header = encode_header(session);
    std::string changed, dropped;
    for (const FileRecord& f : session.files) {
        if (f.encoded.empty())
            f.encoded = encode_file(
                ManifestFile{f.label, f.token, std::string(to_string(f.type)), f.pending, f.device, f.bytes});
        auto it = before.files.find(f.token);
        if (it == before.files.end() || it->second != f.encoded) {
            if (!changed.empty())
                changed += ',';
            changed += f.encoded;
        }
        after.files.emplace(f.token, f.encoded);
    }
    for (const auto& [token, file] : before.files)
        if (!after.files.count(token)) {
            if (!dropped.empty())
                dropped += ',';
            dropped += std::to_string(token);
        }
    bool header_changed = found == written_.end() || before.header != after.header;
    if (!header_changed && changed.empty() && dropped.empty())
        return;
    // Only what changed: a file preserved costs its own record, whatever the session holds.
    std::string entry = "{\"n\":" + nlohmann::json(session.name).dump();
    if (header_changed)
        entry += ",\"s\":" + after.header;
    if (!changed.empty())
        entry += ",\"f\":[" + changed + "]";
    if (!dropped.empty())
        entry += ",\"d\":[" + dropped + "]";
    entry += "}";
    append(entry, kind);
    after.bytes = ManifestLog::entry_size(session_entry_size(session.name, after));
    written_.insert_or_assign(session.name, std::move(after));
}

void StateStore::erase_session(const std::string& name)
{
    if (!written_.count(name))
        return;
    append("{\"n\":" + nlohmann::json(name).dump() + ",\"x\":true}", Write::outcome);
    written_.erase(name);
}

void StateStore::set_update_record(std::optional<luo::update::UpdateRecord> record)
{
    auto previous = std::exchange(update_, std::move(record));
    try {
        append_state(Write::outcome);
    } catch (...) {
        update_ = std::move(previous);
        throw;
    }
}

void StateStore::set_last_update(std::optional<luo::update::UpdateReport> report)
{
    auto previous = std::exchange(last_update_, std::move(report));
    bool unwritten = std::exchange(last_update_unwritten_, true);
    try {
        append_state(Write::outcome);
    } catch (...) {
        last_update_ = std::move(previous);
        last_update_unwritten_ = unwritten;
        throw;
    }
}

bool StateStore::change_last_update(const std::function<void(luo::update::UpdateReport&)>& change)
{
    if (!last_update_)
        return false;
    change(*last_update_);
    last_update_unwritten_ = true;
    return true;
}

void StateStore::flush_last_update()
{
    if (last_update_unwritten_)
        append_state(Write::outcome);
}

std::size_t StateStore::live_bytes() const
{
    std::size_t bytes = ManifestLog::entry_size(state_entry().size()) + report_bytes_;
    for (const auto& [name, w] : written_)
        bytes += w.bytes;
    return bytes;
}

void StateStore::make_room_for(std::size_t payload, Write kind)
{
    std::size_t needed = ManifestLog::entry_size(payload) + (kind == Write::ahead ? kManifestReserve : 0);
    if (log_->room() < needed) {
        try {
            make_room(needed);
        } catch (const luo::Error& e) {
            // An outcome still fits in the reserve; a change ahead of the kernel is refused.
            if (kind == Write::ahead || log_->room() < ManifestLog::entry_size(payload))
                fail(ErrorKind::limits_exceeded, std::string("luod's manifest cannot grow: ") + e.what());
            spdlog::warn("luod's manifest cannot grow ({}): using its reserve", e.what());
        }
    }
}

void StateStore::append(const std::string& payload, Write kind)
{
    if (!log_)
        return;
    make_room_for(payload.size(), kind);
    append_now(payload);
}

void StateStore::append_now(const std::string& payload)
{
    try {
        log_->append(payload);
    } catch (const luo::Error& e) {
        fail(ErrorKind::failed, std::string("writing the manifest failed: ") + e.what());
    }
    last_write_ = ManifestLog::entry_size(payload.size());
    spdlog::debug("manifest: appended {} bytes (entry {}, {} of {} bytes in use)", last_write_, log_->entries(),
                  log_->end(), log_->capacity());
}

void StateStore::append_report(Write kind)
{
    std::string payload = nlohmann::json{{"r", luo::update::to_json(last_update_)}}.dump();
    append(payload, kind);
    last_update_unwritten_ = false;
    if (!log_)
        return;
    report_at_ = ManifestIndex::EntryAt{log_->end() - ManifestLog::entry_size(payload.size()), log_->entries()};
    report_bytes_ = ManifestLog::entry_size(payload.size());
}

void StateStore::append_state(Write kind)
{
    // The report first, when the log does not have it as it is now: the state entry names it.
    if (last_update_unwritten_ || (last_update_ && !report_at_))
        append_report(kind);
    if (!log_)
        return;
    // Room first: a rewrite moves the report, which the state entry names (a few bytes spare
    // for the digits of a new offset).
    make_room_for(state_entry().size() + 64, kind);
    std::string payload = state_entry();
    append_now(payload);
    last_state_ = ManifestIndex::EntryAt{log_->end() - ManifestLog::entry_size(payload.size()), log_->entries()};
    // Where it is, so that the next kernel's luod reads the update's final record without
    // walking the log. An index not written is only slower: its older offset names an entry
    // that is not the last, and the reader walks the log.
    try {
        write_index();
    } catch (const std::exception& e) {
        spdlog::warn("the manifest index does not say where the last state entry is: {}", e.what());
    }
}

void StateStore::make_room(std::size_t bytes)
{
    std::size_t live = live_bytes();
    // Mostly records written over since: write the live ones afresh (as much again is the
    // most the rewrite costs, and it is never done twice in a row for nothing).
    if (log_->end() > 2 * live)
        rewrite(bytes);
    else
        grow(*log_, bytes);
}

void StateStore::grow(ManifestLog& chain, std::size_t room)
{
    bool added = false;
    while (chain.room() < room) {
        luo::UniqueFd fd = ManifestLog::make_segment(chain.segment_size());
        // A token taken by a segment that luod stopped before naming in the index is skipped.
        for (int tries = 0;; ++tries) {
            std::uint64_t token = next_token_++;
            try {
                luod_session_.preserve_fd(fd.get(), token);
            } catch (const luo::Error& e) {
                if (e.errno_value() == EEXIST && tries < 4096)
                    continue;
                throw;
            }
            if (!manifest_withheld_)
                fd_store_.store(FdStore::segment_name(token), fd.get());
            chain.add_segment(token, std::move(fd));
            break;
        }
        added = true;
    }
    // A chain being rewritten is named in the index when it is switched to.
    if (added && log_ && &chain == &*log_)
        write_index();
}

void StateStore::rewrite(std::size_t extra)
{
    std::uint64_t epoch = log_ ? log_->epoch() + 1 : 1;
    std::size_t segment_size = config_.manifest_size_mib << 20;
    ManifestLog target = spare_ ? std::move(*spare_) : ManifestLog(epoch, segment_size);
    spare_.reset();
    std::optional<ManifestIndex::EntryAt> report_before = report_at_;
    ManifestIndex::EntryAt last_state;
    try {
        target.restart(epoch);
        // The report first (when there is one), then the state entry that names it.
        std::string report;
        if (last_update_ || report_at_) {
            report = nlohmann::json{{"r", luo::update::to_json(last_update_)}}.dump();
            report_at_ = ManifestIndex::EntryAt{0, 1};
        }
        std::string state = state_entry();
        std::size_t live = ManifestLog::entry_size(state.size());
        if (!report.empty())
            live += ManifestLog::entry_size(report.size());
        for (const auto& [name, w] : written_)
            live += w.bytes;
        // Room for what is live, what is to be appended, the reserve, and as much again, so
        // that a rewrite is followed by many appends before the next.
        grow(target, live + extra + kManifestReserve + live);
        if (!report.empty())
            target.append(report);
        last_state = ManifestIndex::EntryAt{target.end(), target.entries() + 1};
        target.append(state);
        for (const auto& [name, w] : written_)
            target.append(session_entry(name, w));
        if (!report.empty()) {
            report_bytes_ = ManifestLog::entry_size(report.size());
            last_update_unwritten_ = false;
        }
    } catch (...) {
        report_at_ = report_before;
        spare_.emplace(std::move(target));
        throw;
    }
    if (log_)
        spare_.emplace(std::move(*log_));
    log_.emplace(std::move(target));
    last_state_ = last_state;
    write_index();
}

void StateStore::write_index()
{
    if (!index_ || !log_)
        return;
    nlohmann::json index{{"format", "luod-manifest-index"},
                         {"version", 2},
                         {"epoch", log_->epoch()},
                         {"segment_size", log_->segment_size()},
                         {"active", log_->tokens()},
                         {"spare", spare_ ? spare_->tokens() : std::vector<std::uint64_t>{}},
                         {"next_token", next_token_}};
    if (last_state_)
        index["last_state"] = {{"offset", last_state_->offset}, {"seq", last_state_->seq}};
    try {
        index_->write(index.dump());
    } catch (const luo::Error& e) {
        fail(ErrorKind::failed, std::string("writing the manifest index failed: ") + e.what());
    }
}

StateStore::ManifestUsage StateStore::manifest_usage() const
{
    ManifestUsage u;
    if (log_) {
        u.segments = log_->segments().size() + (spare_ ? spare_->segments().size() : 0);
        u.capacity = log_->capacity();
        u.end = log_->end();
        u.epoch = log_->epoch();
        u.entries = log_->entries();
    }
    u.last_write = last_write_;
    return u;
}

// ---- the fd store ----

void StateStore::keep_fd(luo::SessionKind kind, const std::string& name, int fd)
{
    fd_store_.store(FdStore::session_name(kind, name), fd);
}

void StateStore::drop_fd(luo::SessionKind kind, const std::string& name)
{
    fd_store_.remove(FdStore::session_name(kind, name));
}

void StateStore::withhold_manifest_from_fd_store()
{
    if (manifest_withheld_ || !index_)
        return;
    manifest_withheld_ = true;
    fd_store_.remove(FdStore::kManifestName);
    for (const std::optional<ManifestLog>* chain : {&log_, &spare_})
        if (*chain)
            for (std::uint64_t token : (*chain)->tokens())
                fd_store_.remove(FdStore::segment_name(token));
    spdlog::info("the manifest left the fd store for the kexec: luod's session carries it");
}

void StateStore::return_manifest_to_fd_store()
{
    if (!manifest_withheld_)
        return;
    manifest_withheld_ = false;
    if (index_)
        fd_store_.store(FdStore::kManifestName, index_->fd());
    for (const std::optional<ManifestLog>* chain : {&log_, &spare_})
        if (*chain)
            for (const ManifestLog::Segment& segment : (*chain)->segments())
                fd_store_.store(FdStore::segment_name(segment.token), segment.fd.get());
    spdlog::info("the manifest is back in the fd store: no kexec");
}

}  // namespace luod
