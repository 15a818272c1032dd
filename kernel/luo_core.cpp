// SPDX-License-Identifier: Apache-2.0
#include "luo_core.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "luo/model_wire.h"
#include "luo/uapi.h"

namespace luo::kmodel {

namespace {

using namespace luo::uapi;

template <typename T>
T struct_from(std::span<const std::byte> arg)
{
    T value{};
    if (!arg.empty())  // an empty span may have no data pointer at all
        std::memcpy(&value, arg.data(), std::min(arg.size(), sizeof value));
    return value;
}

template <typename T>
std::vector<std::byte> bytes_of(const T& value)
{
    auto b = std::as_bytes(std::span(&value, 1));
    return {b.begin(), b.end()};
}

IoctlReply fail(int err)
{
    IoctlReply r;
    r.result = -err;
    return r;
}

std::uint32_t size_field(std::span<const std::byte> arg)
{
    std::uint32_t size = 0;
    if (!arg.empty())
        std::memcpy(&size, arg.data(), std::min(arg.size(), sizeof size));
    return size;
}

// Steps 2-6 of the kernel's dispatch (kernel-abi.md §1.3) after the nr range check: returns 0 or
// the errno, in the kernel's order. `kind_ok` is the 7.2 session-kind check.
int validate(const IoctlRequest& req, unsigned nr, std::uint32_t min_size, std::size_t kernel_size, bool kind_ok)
{
    if (req.flags & model_wire::kFlagSizeFault)
        return EFAULT;
    if (req.request != ioctl_request(nr))
        return ENOTTY;
    if (!kind_ok)
        return EINVAL;
    std::uint32_t size = size_field(req.arg);
    if (size < min_size)
        return EINVAL;
    if (size > kernel_size) {
        if (req.flags & model_wire::kFlagTrailingNonZero)
            return E2BIG;
        auto tail = req.arg.subspan(std::min(req.arg.size(), kernel_size));
        if (std::any_of(tail.begin(), tail.end(), [](std::byte b) { return b != std::byte{0}; }))
            return E2BIG;
    }
    if (req.flags & model_wire::kFlagBodyFault)
        return EFAULT;
    return 0;
}

std::string name_from(const std::uint8_t (&raw)[kSessionNameLength])
{
    const char* chars = reinterpret_cast<const char*>(raw);
    return std::string(chars, strnlen(chars, kSessionNameLength));
}

}  // namespace

LuoCore::LuoCore(Profile profile, std::uint32_t max_blocks, std::vector<std::unique_ptr<FileHandler>> handlers)
    : profile_(std::move(profile)), max_blocks_(max_blocks), handlers_(std::move(handlers))
{
}

FileHandler* LuoCore::handler(std::string_view compatible) const
{
    for (const auto& h : handlers_)
        if (h->compatible() == compatible)
            return h.get();
    return nullptr;
}

bool LuoCore::size_frozen(int fd) const
{
    for (const auto& h : handlers_) {
        if (!h->freezes_size() || !h->can_preserve(fd))
            continue;
        std::string id = h->file_id(fd);
        for (const auto& [seq, s] : sessions_)
            if (!s.incoming && std::any_of(s.out_files.begin(), s.out_files.end(),
                                           [&](const OutgoingFile& f) { return f.id == id; }))
                return true;
    }
    return false;
}

ModelSession* LuoCore::session_by_seq(std::uint64_t seq)
{
    auto it = sessions_.find(seq);
    return it == sessions_.end() ? nullptr : &it->second;
}

bool LuoCore::incoming_pending() const
{
    return std::any_of(sessions_.begin(), sessions_.end(), [](const auto& kv) {
        const ModelSession& s = kv.second;
        return s.incoming && !s.finished && !(s.retrieved && !s.endpoint);
    });
}

bool LuoCore::blocks_exceeded(std::size_t entries, std::uint32_t per_block) const
{
    return (entries + per_block - 1) / per_block > max_blocks_;
}

int LuoCore::restore(const Handover& handover, std::vector<UniqueFd> memory)
{
    std::map<std::uint64_t, ModelSession> restored;
    std::unordered_map<std::string, std::uint64_t> by_name;
    std::uint64_t seq = next_seq_;
    for (const HandoverSession& hs : handover.sessions) {
        if (hs.name.empty() || by_name.count(hs.name))
            return -EINVAL;
        ModelSession s;
        s.seq = seq++;
        s.name = hs.name;
        s.incoming = true;
        std::set<std::uint64_t> tokens;
        for (const HandoverFile& hf : hs.files) {
            FileHandler* h = handler(hf.compatible);
            if (!h)
                return -ENOENT;  // the kernel: deserialization fails, every open gets EIO
            if (!tokens.insert(hf.token).second)
                return -EINVAL;
            IncomingFile f;
            f.token = hf.token;
            f.handler = h;
            f.data = hf.data;
            if (int rc = h->restore(f, memory); rc < 0)
                return rc;
            s.in_files.push_back(std::move(f));
        }
        std::uint64_t key = s.seq;
        by_name.emplace(s.name, key);
        restored.emplace(key, std::move(s));
    }
    next_seq_ = seq;
    liveupdate_num_ = handover.liveupdate_num;
    for (auto& [k, s] : restored)
        sessions_.emplace(k, std::move(s));
    incoming_by_name_.merge(by_name);
    return 0;
}

IoctlReply LuoCore::device_ioctl(const IoctlRequest& req, const EndpointFactory& make_endpoint)
{
    unsigned nr = ioctl_nr(req.request);
    if (nr > kCmdRetrieveSession)
        return fail(EINVAL);
    if (int err = validate(req, nr, kMinSizeCreateSession, sizeof(liveupdate_ioctl_create_session), true))
        return fail(err);
    return nr == kCmdCreateSession ? create_session(req, make_endpoint) : retrieve_session(req, make_endpoint);
}

IoctlReply LuoCore::create_session(const IoctlRequest& req, const EndpointFactory& make_endpoint)
{
    auto args = struct_from<liveupdate_ioctl_create_session>(req.arg);
    std::size_t len = strnlen(reinterpret_cast<const char*>(args.name), kSessionNameLength);
    if (profile_.validates_names && (len == 0 || len == kSessionNameLength))
        return fail(EINVAL);
    // Before 7.2 an unterminated name was cut to 63 bytes and an empty one accepted.
    std::string name(reinterpret_cast<const char*>(args.name), std::min(len, kSessionNameLength - 1));
    // Room for one more entry is made (or found missing) before names are compared: at the
    // cap, a duplicate name gets ENOSPC (ENOMEM before 7.2), not EEXIST.
    if (profile_.linked_blocks ? blocks_exceeded(outgoing_count() + 1, kSessionsPerBlock)
                               : outgoing_count() + 1 > profile_.max_sessions_fixed)
        return fail(profile_.linked_blocks ? ENOSPC : ENOMEM);
    if (outgoing_by_name_.count(name))
        return fail(EEXIST);

    ModelSession s;
    IoctlReply reply;
    if (int rc = make_endpoint(s.endpoint, reply.fd, s.client_inode); rc < 0)
        return fail(-rc);
    std::uint64_t seq = next_seq_++;
    s.seq = seq;
    s.name = name;
    auto it = sessions_.emplace(seq, std::move(s)).first;
    outgoing_by_name_.emplace(name, seq);
    reply.arg = bytes_of(args);
    reply.fd_offset = offsetof(liveupdate_ioctl_create_session, fd);
    reply.new_session = &it->second;
    return reply;
}

IoctlReply LuoCore::retrieve_session(const IoctlRequest& req, const EndpointFactory& make_endpoint)
{
    auto args = struct_from<liveupdate_ioctl_retrieve_session>(req.arg);
    auto found = incoming_by_name_.find(name_from(args.name));
    if (found == incoming_by_name_.end())
        return fail(ENOENT);
    ModelSession& s = sessions_.at(found->second);
    if (s.retrieved)
        return fail(EINVAL);
    IoctlReply reply;
    if (int rc = make_endpoint(s.endpoint, reply.fd, s.client_inode); rc < 0)
        return fail(-rc);
    s.retrieved = true;
    reply.arg = bytes_of(args);
    reply.fd_offset = offsetof(liveupdate_ioctl_retrieve_session, fd);
    reply.new_session = &s;
    return reply;
}

IoctlReply LuoCore::session_ioctl(ModelSession& s, const IoctlRequest& req)
{
    unsigned nr = ioctl_nr(req.request);
    if (nr < kCmdSessionPreserveFd || nr > profile_.last_session_nr())
        return fail(EINVAL);
    // 7.2 refuses an op on the wrong kind of session. Before 7.2 the kernel ran it anyway
    // (a bug that handed outgoing data to incoming handlers); the model only omits the
    // EINVAL and runs the op on the session's own lists, without reproducing the damage.
    bool kind_ok = true;
    if (profile_.checks_session_kind) {
        if (nr == kCmdSessionPreserveFd)
            kind_ok = !s.incoming;
        else if (nr == kCmdSessionRetrieveFd || nr == kCmdSessionFinish)
            kind_ok = s.incoming;
    }
    switch (nr) {
    case kCmdSessionPreserveFd:
        if (int err = validate(req, nr, kMinSizePreserveFd, sizeof(liveupdate_session_preserve_fd), kind_ok))
            return fail(err);
        return preserve_fd(s, req);
    case kCmdSessionRetrieveFd:
        if (int err = validate(req, nr, kMinSizeRetrieveFd, sizeof(liveupdate_session_retrieve_fd), kind_ok))
            return fail(err);
        return retrieve_fd(s, req);
    case kCmdSessionFinish:
        if (int err = validate(req, nr, kMinSizeFinish, sizeof(liveupdate_session_finish), kind_ok))
            return fail(err);
        if (profile_.checks_finish_reserved && struct_from<liveupdate_session_finish>(req.arg).reserved != 0)
            return fail(EINVAL);
        return finish(s);
    default:
        if (int err = validate(req, nr, kMinSizeGetName, sizeof(liveupdate_session_get_name), kind_ok))
            return fail(err);
        return get_name(s, req);
    }
}

IoctlReply LuoCore::preserve_fd(ModelSession& s, const IoctlRequest& req)
{
    auto args = struct_from<liveupdate_session_preserve_fd>(req.arg);
    auto& files = s.out_files;
    if (std::any_of(files.begin(), files.end(), [&](const OutgoingFile& f) { return f.token == args.token; }))
        return fail(EEXIST);
    if (profile_.linked_blocks ? blocks_exceeded(files.size() + 1, kFilesPerBlock)
                               : files.size() + 1 > profile_.max_files_fixed)
        return fail(ENOSPC);
    if ((req.flags & model_wire::kFlagFdNotOpen) || req.payload.size() != 1 || !req.payload[0])
        return fail(EBADF);
    int fd = req.payload[0].get();
    FileHandler* h = nullptr;
    for (const auto& candidate : handlers_) {
        if (candidate->can_preserve(fd)) {
            h = candidate.get();
            break;
        }
    }
    if (!h)
        return fail(ENOENT);
    OutgoingFile f;
    f.token = args.token;
    f.handler = h;
    f.id = h->file_id(fd);
    if (profile_.rejects_double_preserve && managed_.count(f.id))
        return fail(EBUSY);
    // LUO keeps its own reference to the file: the caller may close its fd.
    f.file = luo::UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    if (!f.file)
        return fail(errno);
    if (int rc = h->preserve(f); rc < 0)
        return fail(-rc);
    ++managed_[f.id];
    files.push_back(std::move(f));
    IoctlReply reply;
    reply.arg = bytes_of(args);
    return reply;
}

IoctlReply LuoCore::retrieve_fd(ModelSession& s, const IoctlRequest& req)
{
    auto args = struct_from<liveupdate_session_retrieve_fd>(req.arg);
    auto it = std::find_if(s.in_files.begin(), s.in_files.end(),
                           [&](const IncomingFile& f) { return f.token == args.token; });
    if (it == s.in_files.end())
        return fail(ENOENT);
    IncomingFile& f = *it;
    if (f.retrieve_status < 0 && profile_.sticky_retrieve)
        return fail(-f.retrieve_status);  // "failed retrieves are not retried"
    if (f.retrieve_status <= 0) {
        UniqueFd file;
        if (int rc = f.handler->retrieve(f, file); rc < 0) {
            f.retrieve_status = rc;
            return fail(-rc);
        }
        f.retrieve_status = 1;
        f.retrieved = std::move(file);
        f.id = f.handler->file_id(f.retrieved.get());
        ++managed_[f.id];  // a retrieved file stays managed until its session finishes
    }
    IoctlReply reply;
    // Another fd for the same open file description, as the kernel returns on a repeat.
    reply.fd = UniqueFd(::fcntl(f.retrieved.get(), F_DUPFD_CLOEXEC, 3));
    if (!reply.fd)
        return fail(errno);
    args.fd = -1;
    reply.arg = bytes_of(args);
    reply.fd_offset = offsetof(liveupdate_session_retrieve_fd, fd);
    return reply;
}

bool LuoCore::finish_files(ModelSession& s)
{
    for (const IncomingFile& f : s.in_files)
        if (!f.handler->can_finish(f))
            return false;
    for (auto it = s.in_files.rbegin(); it != s.in_files.rend(); ++it) {
        if (!it->id.empty() && --managed_[it->id] == 0)
            managed_.erase(it->id);
        it->handler->finish(*it);
    }
    s.in_files.clear();
    return true;
}

IoctlReply LuoCore::finish(ModelSession& s)
{
    if (!finish_files(s))
        return fail(EBUSY);
    if (s.incoming)
        s.finished = true;
    IoctlReply reply;
    reply.arg = bytes_of(liveupdate_session_finish{sizeof(liveupdate_session_finish), 0});
    return reply;
}

IoctlReply LuoCore::get_name(ModelSession& s, const IoctlRequest& req)
{
    auto args = struct_from<liveupdate_session_get_name>(req.arg);
    if (args.reserved != 0)
        return fail(EINVAL);
    std::memset(args.name, 0, sizeof args.name);
    std::memcpy(args.name, s.name.data(), std::min(s.name.size(), sizeof args.name - 1));
    IoctlReply reply;
    reply.arg = bytes_of(args);
    return reply;
}

void LuoCore::unpreserve_files(ModelSession& s)
{
    while (!s.out_files.empty()) {  // last-preserved first
        OutgoingFile& f = s.out_files.back();
        if (--managed_[f.id] == 0)
            managed_.erase(f.id);
        s.out_files.pop_back();
    }
}

void LuoCore::erase_session(ModelSession& s)
{
    auto& index = s.incoming ? incoming_by_name_ : outgoing_by_name_;
    auto it = index.find(s.name);
    if (it != index.end() && it->second == s.seq)
        index.erase(it);
    sessions_.erase(s.seq);
}

void LuoCore::session_closed(ModelSession& s)
{
    s.endpoint.reset();
    unpreserve_files(s);
    if (s.incoming && !s.finished && !finish_files(s)) {
        // Implicit finish failed: the session stays listed, cannot be retrieved again
        // (EINVAL) and keeps its resources until the next kexec.
        return;
    }
    erase_session(s);
}

int LuoCore::freeze(Handover& out, HandoverMemory& memory)
{
    Handover h;
    h.liveupdate_num = liveupdate_num_ + 1;
    std::vector<OutgoingFile*> frozen;
    auto undo = [&] {
        for (auto it = frozen.rbegin(); it != frozen.rend(); ++it)
            (*it)->handler->unfreeze(**it);
    };
    for (auto& [seq, s] : sessions_) {
        if (s.incoming)
            continue;  // incoming sessions are not carried to the following kernel
        HandoverSession hs{s.name, {}};
        for (OutgoingFile& f : s.out_files) {
            HandoverFile hf{f.handler->compatible(), f.token, {}};
            if (int rc = f.handler->freeze(f, memory, hf.data); rc < 0) {
                undo();
                memory.fds.clear();
                return rc;
            }
            frozen.push_back(&f);
            hs.files.push_back(std::move(hf));
        }
        h.sessions.push_back(std::move(hs));
    }
    out = std::move(h);
    return 0;
}

void LuoCore::unfreeze_all()
{
    for (auto& [seq, s] : sessions_)
        if (!s.incoming)
            for (auto it = s.out_files.rbegin(); it != s.out_files.rend(); ++it)
                it->handler->unfreeze(*it);
}

}  // namespace luo::kmodel
