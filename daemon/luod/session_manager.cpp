// SPDX-License-Identifier: Apache-2.0
#include "session_manager.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "api_error.h"
#include "fault.h"
#include "log.h"
#include "luo/dbus_api.h"
#include "luo/error.h"
#include "luo/paths.h"
#include "names.h"

namespace luod {

namespace {

constexpr std::uint64_t kManifestToken = 0;

std::uint64_t realtime_usec()
{
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
}

std::string errno_text(const luo::Error& e)
{
    return luo::errno_name(e.errno_value()) + " (" + std::strerror(e.errno_value()) + ")";
}

// Kernel errors in the terms of the API, by the request that failed.
[[noreturn]] void fail_create(const luo::Error& e, const std::string& name)
{
    switch (e.errno_value()) {
    case EEXIST:
        fail(ErrorKind::session_exists, "a kernel session named '" + name + "' exists outside luod");
    case EINVAL:
        fail(ErrorKind::invalid_args, "the kernel refused the session name '" + name + "'");
    case ENOMEM:
    case ENOSPC:
        fail(ErrorKind::limits_exceeded, "the kernel has no room for another session: " + errno_text(e));
    case EMFILE:
    case ENFILE:
        fail(ErrorKind::limits_exceeded, "luod is out of file descriptors");
    default:
        fail(ErrorKind::kernel_error, "LIVEUPDATE_IOCTL_CREATE_SESSION failed: " + errno_text(e));
    }
}

[[noreturn]] void fail_preserve(const luo::Error& e, const std::string& label, const std::string& description)
{
    switch (e.errno_value()) {
    case ENOENT:
        fail(ErrorKind::unsupported_file, "the kernel cannot preserve '" + label + "' (" + description +
                                              "); LUO preserves memfds and, where supported, VFIO devices");
    case EBUSY:
        fail(ErrorKind::file_already_preserved, "'" + label + "' is already preserved by LUO");
    case EOPNOTSUPP:
        fail(ErrorKind::unsupported_file, "'" + label + "' has seals LUO cannot carry");
    case EFBIG:
    case ENOSPC:
    case ENOMEM:
        fail(ErrorKind::limits_exceeded, "the kernel cannot take '" + label + "': " + errno_text(e));
    case EBADF:
        fail(ErrorKind::invalid_args, "'" + label + "': not an open file");
    default:
        fail(ErrorKind::kernel_error, "LIVEUPDATE_SESSION_PRESERVE_FD of '" + label + "' failed: " + errno_text(e));
    }
}

std::string read_boot_id(const std::filesystem::path& root)
{
    std::ifstream in(luo::KernelPaths(root).boot_id());
    std::string id;
    in >> id;
    return id;
}

std::string device_path(int fd)
{
    char target[PATH_MAX];
    std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
}

std::string hex_decode(std::string_view hex)
{
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    return out;
}

}  // namespace

const char* to_string(SessionState state)
{
    switch (state) {
    case SessionState::open: return "open";
    case SessionState::incoming: return "incoming";
    case SessionState::retrieved: return "retrieved";
    case SessionState::finished: return "finished";
    }
    return "open";
}

SessionManager::SessionManager(Config config, std::filesystem::path root, FdStore& fd_store)
    : config_(std::move(config)), root_(std::move(root)), fd_store_(fd_store), started_usec_(realtime_usec())
{
}

void SessionManager::open_device()
{
    // A previous luod may still be exiting and hold the device for a moment.
    for (int attempt = 0;; ++attempt) {
        try {
            device_ = luo::Device::open(root_);
            transport_ = device_.transport();
            return;
        } catch (const luo::Error& e) {
            if (e.errno_value() == EBUSY && attempt < 50) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            spdlog::error("cannot open {}: {}{}; running without it", luo::KernelPaths(root_).device().native(),
                          errno_text(e),
                          e.errno_value() == EIO ? " (the kernel could not restore the last update's handover)"
                          : e.errno_value() == ENOENT ? " (no LUO in this kernel: kho=on liveupdate=on?)"
                                                       : "");
            return;
        }
    }
}

void SessionManager::start(std::vector<std::pair<std::string, luo::UniqueFd>> listen_fds)
{
    boot_id_ = read_boot_id(root_);
    open_device();
    if (!device_.valid())
        return;
    features_ = device_.probe_features(kProbeSession);
    std::map<std::string, luo::UniqueFd> fds;
    for (auto& [name, fd] : listen_fds)
        fds.emplace(name, std::move(fd));
    auto luod_key = FdStore::session_name(luo::SessionKind::outgoing, kLuodSession);
    auto previous_key = FdStore::session_name(luo::SessionKind::incoming, kLuodSession);
    if (fds.count(FdStore::kManifestName)) {
        restore_from_fd_store(fds);  // a restart within this boot
    } else if (fds.count(previous_key)) {
        // luod stopped while restoring after an update; its session from before is safe in
        // the store, its manifest at token 0 can be read again.
        luo::Session luod(std::move(fds[previous_key]), luo::SessionKind::incoming);
        fds.erase(previous_key);
        restore_after_update(std::move(luod), fds);
    } else if (fds.count(luod_key)) {
        // systemd carried luod's sessions across a kexec and retrieved them: they are
        // incoming now, and the manifest is at token 0 of the "luod" one.
        luo::Session luod(std::move(fds[luod_key]), luo::SessionKind::incoming);
        fds.erase(luod_key);
        restore_after_update(std::move(luod), fds);
    } else {
        luo::Session luod;
        try {
            luod = device_.retrieve_session(kLuodSession);
        } catch (const luo::Error& e) {
            if (e.errno_value() != ENOENT)
                spdlog::error("cannot retrieve luod's session from the last update: {}", e.what());
        }
        if (luod.valid()) {
            // Closing it would finish it and discard the manifest: the store keeps it until
            // the manifest is read and written anew.
            fd_store_.store(previous_key, luod.fd());
            fault_point("restore-after-retrieve");
            restore_after_update(std::move(luod), fds);
        } else {
            start_fresh();
        }
    }
    for (auto& [name, fd] : fds)
        spdlog::warn("closing fd '{}' from the fd store: nothing of luod's", name);
    persist();
    spdlog::info("ready: {} sessions, kernel via {}", sessions_.size(), luo::to_string(transport_));
}

void SessionManager::start_fresh()
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
    ManifestStore store = ManifestStore::create(config_.manifest_size_mib << 20);
    luod.preserve_fd(store.fd(), kManifestToken);
    attach_luod_session(std::move(luod), std::move(store));
}

void SessionManager::attach_luod_session(luo::Session session, ManifestStore store)
{
    luod_session_ = std::move(session);
    manifest_.emplace(std::move(store));
    persist();
    fd_store_.store(FdStore::session_name(luo::SessionKind::outgoing, kLuodSession), luod_session_.fd());
    fd_store_.store(FdStore::kManifestName, manifest_->fd());
}

void SessionManager::finish_previous_luod_session(luo::Session previous)
{
    try {
        previous.finish();
    } catch (const luo::Error& e) {
        spdlog::warn("finishing luod's own session from the last update failed: {}", e.what());
    }
    fd_store_.remove(FdStore::session_name(luo::SessionKind::incoming, kLuodSession));
}

void SessionManager::restore_from_fd_store(std::map<std::string, luo::UniqueFd>& fds)
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
    // Left over when luod stopped right after restoring an update: its job is done.
    if (luo::UniqueFd previous = take(FdStore::session_name(luo::SessionKind::incoming, kLuodSession)))
        finish_previous_luod_session(luo::Session(std::move(previous), luo::SessionKind::incoming));
    Manifest manifest;
    if (auto text = store.read()) {
        try {
            manifest = decode_manifest(*text);
        } catch (const ManifestError& e) {
            spdlog::error("{}: starting with no session records", e.what());
        }
    } else {
        spdlog::error("the stored manifest is unreadable: starting with no session records");
    }
    live_update_count_ = manifest.live_update_count;
    update_ = manifest.update;
    last_update_ = manifest.last_update;

    luo::UniqueFd luod_fd = take(FdStore::session_name(luo::SessionKind::outgoing, kLuodSession));
    if (luod_fd) {
        luod_session_ = luo::Session(std::move(luod_fd), luo::SessionKind::outgoing);
        manifest_.emplace(std::move(store));
    } else {
        // luod's own session is gone (so is the manifest's preservation): start it again
        // around the same manifest memfd.
        spdlog::warn("luod's own session was not in the fd store: creating it again");
        luo::Session luod = device_.create_session(kLuodSession);
        luod.preserve_fd(store.fd(), kManifestToken);
        attach_luod_session(std::move(luod), std::move(store));
    }

    for (const ManifestSession& ms : manifest.sessions) {
        auto kind = ms.kind == "incoming" ? luo::SessionKind::incoming : luo::SessionKind::outgoing;
        luo::UniqueFd fd = take(FdStore::session_name(kind, ms.name));
        // An incoming session nobody claimed yet has no fd: the kernel keeps it for RETRIEVE.
        bool unclaimed = kind == luo::SessionKind::incoming && ms.state == "incoming";
        if (!fd && ms.pending) {
            spdlog::info("session '{}' was being created when luod stopped: it was not", ms.name);
            continue;
        }
        if (!fd && !unclaimed) {
            log::Fields f{{"LUO_SESSION", ms.name}};
            spdlog::error("session '{}' is lost: its fd was not in the fd store", ms.name);
            continue;
        }
        SessionRecord r;
        r.name = ms.name;
        r.kind = kind;
        r.state = ms.state == "retrieved" ? SessionState::retrieved
                  : ms.state == "finished" ? SessionState::finished
                  : ms.state == "incoming" ? SessionState::incoming
                                           : SessionState::open;
        r.owner = Owner{ms.owner_uid, ms.owner_unit};
        r.created_usec = ms.created_usec;
        r.next_token = ms.next_token;
        for (const ManifestFile& mf : ms.files)
            r.files.push_back(FileRecord{mf.label, mf.token, mf.type, mf.pending, mf.device, 0, 0, {}});
        if (ms.pending)
            spdlog::info("session '{}' was being created when luod stopped: it was, and is kept", ms.name);
        if (fd)
            r.kernel = luo::Session(std::move(fd), kind);
        if (r.kernel.valid() && features_.get_name) {
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
        sessions_.emplace(r.name, std::move(r));
    }
    // Sessions created just before a crash, stored but not yet in the manifest: kept, owned
    // by root, since their owner is unknown.
    for (auto it = fds.begin(); it != fds.end();) {
        const std::string& key = it->first;
        bool outgoing = key.rfind("luo-s-", 0) == 0;
        if ((outgoing || key.rfind("luo-i-", 0) == 0) && key.size() % 2 == 0) {
            std::string name = hex_decode(std::string_view(key).substr(6));
            if (!sessions_.count(name) && name != kLuodSession) {
                auto kind = outgoing ? luo::SessionKind::outgoing : luo::SessionKind::incoming;
                SessionRecord r;
                r.name = name;
                r.kind = kind;
                r.state = outgoing ? SessionState::open : SessionState::retrieved;
                r.created_usec = realtime_usec();
                r.kernel = luo::Session(std::move(it->second), kind);
                spdlog::warn("session '{}' was in the fd store but not in the manifest: kept, owned by root",
                             printable(name));
                sessions_.emplace(name, std::move(r));
                it = fds.erase(it);
                continue;
            }
        }
        ++it;
    }
    spdlog::info("restored {} sessions from the fd store (manifest generation {})", sessions_.size(),
                 manifest.generation);
}

void SessionManager::restore_after_update(luo::Session luod, std::map<std::string, luo::UniqueFd>& carried)
{
    restored_from_update_ = true;
    Manifest manifest;
    try {
        ManifestStore old = ManifestStore::adopt(luod.retrieve_fd(kManifestToken));
        if (auto text = old.read())
            manifest = decode_manifest(*text);
        else
            spdlog::error("the manifest that came across is unreadable: incoming sessions have no owners or labels");
    } catch (const std::exception& e) {
        spdlog::error("cannot read the manifest that came across ({}): incoming sessions have no owners or labels",
                      e.what());
    }
    live_update_count_ = manifest.live_update_count + 1;
    update_ = manifest.update;
    last_update_ = manifest.last_update;
    for (const ManifestSession& ms : manifest.sessions) {
        log::Fields f{{"LUO_SESSION", ms.name}, {"LUO_OWNER_UID", std::to_string(ms.owner_uid)}};
        if (ms.kind == "incoming") {
            spdlog::warn("session '{}' came from the update before and was never claimed: it is gone", ms.name);
            continue;
        }
        SessionRecord r;
        r.name = ms.name;
        r.kind = luo::SessionKind::incoming;
        r.state = SessionState::incoming;
        r.owner = Owner{ms.owner_uid, ms.owner_unit};
        r.created_usec = ms.created_usec;
        r.next_token = ms.next_token;
        for (const ManifestFile& mf : ms.files)
            r.files.push_back(FileRecord{mf.label, mf.token, mf.type, mf.pending, mf.device, 0, 0, {}});
        auto key = FdStore::session_name(luo::SessionKind::outgoing, ms.name);
        if (auto it = carried.find(key); it != carried.end()) {
            r.kernel = luo::Session(std::move(it->second), luo::SessionKind::incoming);
            carried.erase(it);
            fd_store_.remove(key);
            fd_store_.store(FdStore::session_name(luo::SessionKind::incoming, ms.name), r.kernel.fd());
        }
        sessions_.emplace(r.name, std::move(r));
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
        fd_store_.remove(it->first);
        fd_store_.store(FdStore::session_name(luo::SessionKind::incoming, r.name), r.kernel.fd());
        sessions_.emplace(r.name, std::move(r));
        it = carried.erase(it);
    }
    fault_point("restore-midway");
    // The records are safe in a new manifest (written before it is stored) before luod's
    // session from before, and the manifest in it, are let go.
    fd_store_.remove(FdStore::session_name(luo::SessionKind::outgoing, kLuodSession));
    start_fresh();
    fault_point("restore-before-finish");
    finish_previous_luod_session(std::move(luod));
    std::size_t files = 0;
    for (const auto& [name, r] : sessions_)
        files += r.files.size();
    spdlog::info("live update #{}: {} sessions with {} files came across", live_update_count_, sessions_.size(), files);
}

ManifestSession SessionManager::manifest_entry(const SessionRecord& r) const
{
    ManifestSession ms;
    ms.name = r.name;
    ms.kind = luo::to_string(r.kind);
    ms.state = to_string(r.state);
    ms.owner_uid = r.owner.uid;
    ms.owner_unit = r.owner.unit;
    ms.created_usec = r.created_usec;
    ms.next_token = r.next_token;
    ms.pending = r.pending;
    return ms;
}

std::string SessionManager::manifest_text() const
{
    Manifest header;
    header.written_usec = realtime_usec();
    header.boot_id = boot_id_;
    header.live_update_count = live_update_count_;
    header.update = update_;
    header.last_update = last_update_;
    std::vector<const std::string*> parts;
    parts.reserve(sessions_.size());
    for (const auto& [name, r] : sessions_) {
        auto it = encoded_.find(name);
        if (it == encoded_.end()) {
            std::vector<const std::string*> files;
            files.reserve(r.files.size());
            for (const FileRecord& f : r.files) {
                if (f.encoded.empty())
                    f.encoded = encode_file(ManifestFile{f.label, f.token, f.type, f.pending, f.device});
                files.push_back(&f.encoded);
            }
            ManifestSession head = manifest_entry(r);
            head.files.clear();
            it = encoded_.emplace(name, assemble_session(head, files)).first;
        }
        parts.push_back(&it->second);
    }
    return assemble_manifest(header, parts);
}

bool SessionManager::manifest_fits() const
{
    return !manifest_ || manifest_->fits(manifest_text().size());
}

void SessionManager::persist()
{
    if (!manifest_)
        return;
    std::string text = manifest_text();
    if (!manifest_->fits(text.size()))
        fail(ErrorKind::limits_exceeded, "luod's manifest is full; raise ManifestSizeMiB in luod.conf");
    try {
        manifest_->write(text);
    } catch (const luo::Error& e) {
        fail(ErrorKind::failed, std::string("writing the manifest failed: ") + e.what());
    }
}

void SessionManager::require_device() const
{
    if (!device_.valid())
        fail(ErrorKind::device_unavailable, "/dev/liveupdate is not available to luod");
}

bool SessionManager::may_access(const Caller& caller, const SessionRecord& session)
{
    if (caller.is_root())
        return true;
    // A session belongs to its owner's uid and unit: another service of the same uid is
    // another owner. Sessions made outside any unit belong to the uid.
    return caller.uid == session.owner.uid && (session.owner.unit.empty() || session.owner.unit == caller.unit);
}

SessionRecord& SessionManager::require(const Caller& caller, const std::string& name)
{
    auto it = sessions_.find(name);
    if (it == sessions_.end())
        fail(ErrorKind::no_such_session, "no session '" + printable(name) + "'");
    if (!may_access(caller, it->second))
        fail(ErrorKind::access_denied, "session '" + printable(name) + "' belongs to another owner");
    return it->second;
}

const SessionRecord* SessionManager::find(const std::string& name) const
{
    auto it = sessions_.find(name);
    return it == sessions_.end() ? nullptr : &it->second;
}

std::size_t SessionManager::outgoing_count() const
{
    return static_cast<std::size_t>(std::count_if(sessions_.begin(), sessions_.end(), [](const auto& kv) {
        return kv.second.kind == luo::SessionKind::outgoing;
    }));
}

std::size_t SessionManager::incoming_count() const
{
    return sessions_.size() - outgoing_count();
}

std::vector<std::string> SessionManager::feature_names() const
{
    std::vector<std::string> out;
    if (!device_.valid())
        return out;
    if (features_.get_name)
        out.emplace_back("session-get-name");
    if (features_.validates_names)
        out.emplace_back("name-validation");
    if (features_.rejects_double_preserve)
        out.emplace_back("double-preservation-check");
    out.push_back("max-sessions=" + std::to_string(features_.max_sessions));
    out.push_back("max-files-per-session=" + std::to_string(features_.max_files_per_session));
    return out;
}

void SessionManager::notify_changed(const SessionRecord& session, const std::vector<std::string>& properties)
{
    for (auto* o : std::vector(observers_))
        o->session_changed(session, properties);
}

void SessionManager::notify_added(const SessionRecord& session)
{
    for (auto* o : std::vector(observers_))
        o->session_added(session);
}

void SessionManager::notify_removed(const std::string& name)
{
    for (auto* o : std::vector(observers_))
        o->session_removed(name);
}

SessionRecord& SessionManager::create(const Caller& caller, const std::string& name, const std::optional<Owner>& on_behalf)
{
    validate_session_name(name);
    if (on_behalf && !caller.is_root())
        fail(ErrorKind::access_denied, "only root may create a session for another owner");
    Owner owner = on_behalf ? *on_behalf : caller.as_owner();
    require_device();
    if (auto it = sessions_.find(name); it != sessions_.end()) {
        if (it->second.kind == luo::SessionKind::incoming)
            fail(ErrorKind::invalid_state, "session '" + name + "' came across the last update: finish it first");
        fail(ErrorKind::session_exists, "session '" + name + "' exists");
    }
    if (!caller.is_root()) {
        auto owned = std::count_if(sessions_.begin(), sessions_.end(), [&](const auto& kv) {
            return kv.second.kind == luo::SessionKind::outgoing && kv.second.owner.uid == caller.uid;
        });
        if (static_cast<std::size_t>(owned) >= config_.max_sessions_per_user)
            fail(ErrorKind::quota_exceeded, "uid " + std::to_string(caller.uid) + " owns " + std::to_string(owned) +
                                                " sessions, the most allowed (MaxSessionsPerUser)");
    }
    // luod's own session counts against the kernel's fixed limit too.
    if (features_.max_sessions > 0 && outgoing_count() + 2 > features_.max_sessions)
        fail(ErrorKind::limits_exceeded, "the kernel holds at most " + std::to_string(features_.max_sessions) +
                                             " sessions");

    SessionRecord r;
    r.name = name;
    r.owner = owner;
    r.created_usec = realtime_usec();
    r.pending = true;  // write-ahead: the owner is recorded before the kernel has the session
    auto [it, inserted] = sessions_.emplace(name, std::move(r));
    touch(name);
    auto forget = [&] {
        sessions_.erase(name);
        touch(name);
    };
    try {
        persist();
    } catch (const ApiError&) {
        forget();
        throw;
    }
    fault_point("create-after-write-ahead");
    try {
        it->second.kernel = device_.create_session(name);
    } catch (const luo::Error& e) {
        forget();
        persist();
        fail_create(e, name);
    }
    fault_point("create-after-kernel");
    fd_store_.store(FdStore::session_name(luo::SessionKind::outgoing, name), it->second.kernel.fd());
    fault_point("create-after-store");
    it->second.pending = false;
    touch(name);
    persist();
    log::Fields f{{"LUO_SESSION", name},
                  {"LUO_OWNER_UID", std::to_string(owner.uid)},
                  {"LUO_OWNER_UNIT", owner.unit}};
    spdlog::info("session '{}' created for uid {}{}", name, owner.uid, owner.unit.empty() ? "" : " (" + owner.unit + ")");
    notify_added(it->second);
    return it->second;
}

SessionRecord& SessionManager::get(const Caller& caller, const std::string& name) { return require(caller, name); }

std::vector<const SessionRecord*> SessionManager::list(const Caller& caller) const
{
    std::vector<const SessionRecord*> out;
    for (const auto& [name, r] : sessions_)
        if (may_access(caller, r))
            out.push_back(&r);
    return out;
}

std::string SessionManager::classify(int fd, const struct ::stat& st) const
{
    struct statfs sfs {};
    ::fstatfs(fd, &sfs);
    if (S_ISREG(st.st_mode) && st.st_nlink == 0 && sfs.f_type == TMPFS_MAGIC)
        return "memfd";
    if (sfs.f_type == HUGETLBFS_MAGIC)
        return "hugetlb memfd";
    char target[PATH_MAX];
    std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    std::string path = n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
    auto vfio_dir = (root_ / "dev/vfio/devices/").lexically_normal().native();
    if ((S_ISCHR(st.st_mode) || S_ISREG(st.st_mode)) && path.rfind(vfio_dir, 0) == 0)
        return "vfio";
    if (S_ISFIFO(st.st_mode))
        return "pipe";
    if (S_ISSOCK(st.st_mode))
        return "socket";
    if (S_ISCHR(st.st_mode))
        return "character device " + path;
    if (S_ISDIR(st.st_mode))
        return "directory";
    if (S_ISREG(st.st_mode))
        return "regular file";
    return "file";
}

std::vector<std::uint64_t> SessionManager::preserve(const Caller& caller, const std::string& name,
                                                    const std::vector<FileToPreserve>& files)
{
    SessionRecord& s = require(caller, name);
    if (s.kind != luo::SessionKind::outgoing)
        fail(ErrorKind::invalid_state, "session '" + name + "' came across an update: files cannot be added to it");
    require_device();
    if (files.empty())
        fail(ErrorKind::invalid_args, "no file to preserve");
    if (files.size() > luo::dbus::kMaxFdsPerCall)
        fail(ErrorKind::invalid_args, "at most " + std::to_string(luo::dbus::kMaxFdsPerCall) + " files per call");
    if (s.files.size() + files.size() > config_.max_files_per_session)
        fail(ErrorKind::quota_exceeded, "a session holds at most " + std::to_string(config_.max_files_per_session) +
                                            " files (MaxFilesPerSession)");
    if (features_.max_files_per_session > 0 && s.files.size() + files.size() > features_.max_files_per_session)
        fail(ErrorKind::limits_exceeded, "the kernel holds at most " + std::to_string(features_.max_files_per_session) +
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
            fail(ErrorKind::label_exists, "label '" + f.label + "' is already used in session '" + name + "'");
        struct stat st;
        if (::fstat(f.fd, &st) < 0)
            fail(ErrorKind::invalid_args, "'" + f.label + "': not an open file");
        auto same_file = [&](const FileRecord& r) { return r.ino == st.st_ino && r.dev == st.st_dev; };
        for (const auto& [other_name, other] : sessions_)
            if (other.kind == luo::SessionKind::outgoing &&
                std::any_of(other.files.begin(), other.files.end(), same_file))
                fail(ErrorKind::file_already_preserved,
                     "'" + f.label + "' is already preserved" +
                         (may_access(caller, other) ? " in session '" + other_name + "'" : std::string()));
        if (std::any_of(batch.begin(), batch.end(), [&](const Candidate& c) { return same_file(c.record); }))
            fail(ErrorKind::file_already_preserved, "'" + f.label + "' is in the batch twice");
        Candidate c;
        c.description = classify(f.fd, st);
        c.record = FileRecord{f.label, 0, c.description == "memfd" || c.description == "vfio" ? c.description : "file",
                              true, {}, st.st_dev, st.st_ino, {}};
        if (c.description == "vfio")
            c.record.device = device_path(f.fd);
        batch.push_back(std::move(c));
    }

    // Write-ahead: the labels are recorded (pending) before the kernel sees the files, so a
    // crash in between loses no label of a file that may have been preserved.
    std::size_t first = s.files.size();
    std::uint64_t next_token = s.next_token;
    for (auto& c : batch) {
        c.record.token = s.next_token++;
        s.files.push_back(c.record);
    }
    auto roll_back = [&](std::size_t keep) {
        s.files.resize(keep);
        s.next_token = keep == first ? next_token : s.next_token;
        touch(name);
    };
    touch(name);
    try {
        persist();  // refuses, writing nothing, when the manifest would not fit
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
            roll_back(first + i);
            persist();
            if (i > 0)
                notify_changed(s, {"FileCount", "Files"});
            try {
                fail_preserve(e, r.label, batch[i].description);
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
    touch(name);
    persist();
    log::Fields f{{"LUO_SESSION", name}, {"LUO_OWNER_UID", std::to_string(s.owner.uid)}};
    spdlog::info("session '{}': {} file(s) preserved, {} in all", name, batch.size(), s.files.size());
    notify_changed(s, {"FileCount", "Files"});
    return tokens;
}

void SessionManager::set_update_record(nlohmann::json record)
{
    update_ = std::move(record);
    persist();
}

void SessionManager::set_last_update(nlohmann::json report)
{
    last_update_ = std::move(report);
    persist();
}

std::size_t SessionManager::file_count() const
{
    std::size_t n = 0;
    for (const auto& [name, r] : sessions_)
        n += r.files.size();
    return n;
}

std::size_t SessionManager::release_unclaimed()
{
    std::vector<std::string> unclaimed;
    for (const auto& [name, r] : sessions_)
        if (r.kind == luo::SessionKind::incoming && r.state == SessionState::incoming)
            unclaimed.push_back(name);
    for (const auto& name : unclaimed) {
        SessionRecord& s = sessions_.at(name);
        log::Fields f{{"LUO_SESSION", name}, {"LUO_OWNER_UID", std::to_string(s.owner.uid)},
                      {"LUO_OWNER_UNIT", s.owner.unit}};
        try {
            if (!s.kernel.valid() && device_.valid())
                s.kernel = device_.retrieve_session(name);
            if (s.kernel.valid())
                s.kernel.finish();  // files never retrieved are discarded, their memory freed
            spdlog::warn("session '{}' was not claimed in time: released with its {} files", name, s.files.size());
        } catch (const luo::Error& e) {
            // Closing it finishes it implicitly where possible; otherwise the kernel keeps its
            // resources until the next update.
            spdlog::error("session '{}' was not claimed in time and could not be finished ({}): closed", name,
                          e.what());
        }
        release(name);
    }
    return unclaimed.size();
}

SessionRecord& SessionManager::retrieve_session(const Caller& caller, const std::string& name)
{
    auto it = sessions_.find(name);
    if (it == sessions_.end() || it->second.kind != luo::SessionKind::incoming)
        fail(ErrorKind::no_such_session, "no session '" + printable(name) + "' came across the last update");
    SessionRecord& s = require(caller, name);
    if (s.kernel.valid())
        return s;  // claimed already: the owner gets it again
    require_device();
    try {
        s.kernel = device_.retrieve_session(name);
    } catch (const luo::Error& e) {
        fail(ErrorKind::kernel_error, "LIVEUPDATE_IOCTL_RETRIEVE_SESSION of '" + name + "' failed: " + errno_text(e));
    }
    s.state = SessionState::retrieved;
    touch(name);
    fd_store_.store(FdStore::session_name(luo::SessionKind::incoming, name), s.kernel.fd());
    persist();
    log::Fields f{{"LUO_SESSION", name}, {"LUO_OWNER_UID", std::to_string(s.owner.uid)}};
    spdlog::info("session '{}' claimed by uid {}", name, caller.uid);
    notify_changed(s, {"State"});
    return s;
}

luo::UniqueFd SessionManager::acquire_fd(const Caller& caller, const std::string& name)
{
    SessionRecord& s = require(caller, name);
    if (!s.kernel.valid())
        fail(ErrorKind::invalid_state, "session '" + name + "' has not been retrieved yet");
    return luo::dup_fd(s.kernel.fd());
}

luo::UniqueFd SessionManager::retrieve_fd(const Caller& caller, const std::string& name, const std::string& label)
{
    SessionRecord& s = require(caller, name);
    if (s.kind != luo::SessionKind::incoming || !s.kernel.valid())
        fail(ErrorKind::invalid_state, "session '" + name + "' is not a retrieved incoming session");
    auto it = std::find_if(s.files.begin(), s.files.end(), [&](const FileRecord& f) { return f.label == label; });
    if (it == s.files.end())
        fail(ErrorKind::no_such_file, "no file '" + label + "' in session '" + name + "'");
    try {
        return s.kernel.retrieve_fd(it->token);
    } catch (const luo::Error& e) {
        if (e.errno_value() == ENOENT)
            fail(ErrorKind::no_such_file, it->pending ? "'" + label + "' was never preserved (luod stopped while "
                                                                      "preserving it)"
                                                      : "'" + label + "' is no longer in session '" + name + "'");
        fail(ErrorKind::kernel_error, "LIVEUPDATE_SESSION_RETRIEVE_FD of '" + label + "' failed: " + errno_text(e));
    }
}

void SessionManager::finish(const Caller& caller, const std::string& name)
{
    SessionRecord& s = require(caller, name);
    if (s.kind != luo::SessionKind::incoming || !s.kernel.valid())
        fail(ErrorKind::invalid_state, "only a retrieved incoming session can be finished");
    try {
        s.kernel.finish();
    } catch (const luo::Error& e) {
        fail(ErrorKind::kernel_error, "LIVEUPDATE_SESSION_FINISH of '" + name + "' failed: " + errno_text(e) +
                                          (e.errno_value() == EBUSY ? "; retrieve every device file first" : ""));
    }
    log::Fields f{{"LUO_SESSION", name}};
    spdlog::info("session '{}' finished", name);
    release(name);
}

void SessionManager::close(const Caller& caller, const std::string& name)
{
    require(caller, name);
    log::Fields f{{"LUO_SESSION", name}, {"LUO_CALLER_UID", std::to_string(caller.uid)}};
    spdlog::info("session '{}' closed by uid {}", name, caller.uid);
    release(name);
}

void SessionManager::release(const std::string& name)
{
    auto it = sessions_.find(name);
    if (it == sessions_.end())
        return;
    fd_store_.remove(FdStore::session_name(it->second.kind, name));
    SessionRecord gone = std::move(it->second);  // its kernel fd closes last
    sessions_.erase(it);
    touch(name);
    persist();
    notify_removed(name);
}

}  // namespace luod
