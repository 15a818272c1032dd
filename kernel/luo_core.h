// SPDX-License-Identifier: Apache-2.0
// The LUO core of the model: outgoing and incoming sessions, their files, and the ioctl
// semantics of /dev/liveupdate and session fds (docs/kernel-abi.md §1.3-§3), independent of how
// requests arrive. The server feeds it decoded requests; tests and fuzzers can too.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "file_handler.h"
#include "handover.h"
#include "luo/unique_fd.h"
#include "profile.h"

namespace luo::kmodel {

struct ModelSession {
    std::uint64_t seq = 0;  // creation order
    std::string name;
    bool incoming = false;
    UniqueFd endpoint;      // the model's end of the session socket; empty once closed
    ino_t client_inode = 0; // inode of the client's end, to find its holders at reboot
    std::vector<OutgoingFile> out_files;  // preservation order
    std::vector<IncomingFile> in_files;   // handover order
    bool retrieved = false; // incoming: handed out by RETRIEVE_SESSION
    bool finished = false;  // incoming: FINISH succeeded
};

// One decoded ioctl request (see luo/model_wire.h for the flags).
struct IoctlRequest {
    std::uint64_t request = 0;
    std::uint16_t flags = 0;
    std::span<const std::byte> arg;  // at most model_wire::kMaxArgBytes bytes
    std::vector<UniqueFd> payload;   // PRESERVE_FD: the file to preserve
};

struct IoctlReply {
    int result = 0;                 // 0 or -errno
    std::vector<std::byte> arg;     // copied-out bytes (the whole known struct)
    int fd_offset = -1;             // where the new fd's number goes in `arg`
    UniqueFd fd;                    // the new fd for the caller
    ModelSession* new_session = nullptr;  // set when a session endpoint was created
};

// Makes a session socket pair: the model's end and the client's. Returns 0 or -errno.
using EndpointFactory = std::function<int(UniqueFd& model_end, UniqueFd& client_end, ino_t& client_inode)>;

class LuoCore {
public:
    LuoCore(Profile profile, std::uint32_t max_blocks, std::vector<std::unique_ptr<FileHandler>> handlers);

    [[nodiscard]] const Profile& profile() const { return profile_; }

    // Boot: recreates incoming sessions from a parsed handover and the inherited memory.
    // Returns 0 or -errno; on failure nothing is restored (and every open gets EIO).
    int restore(const Handover& handover, std::vector<UniqueFd> memory);
    [[nodiscard]] std::uint64_t liveupdate_num() const { return liveupdate_num_; }

    IoctlReply device_ioctl(const IoctlRequest& req, const EndpointFactory& make_endpoint);
    IoctlReply session_ioctl(ModelSession& session, const IoctlRequest& req);
    // The last reference to a session fd went away (kernel-abi.md §3: unpreserve or implicit finish).
    void session_closed(ModelSession& session);

    // reboot(KEXEC): freezes every outgoing session in creation order and every file in
    // preservation order. On failure everything is unfrozen and -errno returned.
    int freeze(Handover& out, HandoverMemory& memory);
    void unfreeze_all();

    // Lookups for the server and the status dump.
    ModelSession* session_by_seq(std::uint64_t seq);
    [[nodiscard]] const std::map<std::uint64_t, ModelSession>& sessions() const { return sessions_; }
    [[nodiscard]] std::size_t outgoing_count() const { return outgoing_by_name_.size(); }
    [[nodiscard]] bool incoming_pending() const;  // an incoming session neither finished nor closed
    [[nodiscard]] FileHandler* handler(std::string_view compatible) const;
    // Whether the file behind fd is preserved in an outgoing session by a handler that
    // freezes its size (memfd: resizing fails with EPERM until the session is closed).
    [[nodiscard]] bool size_frozen(int fd) const;

private:
    IoctlReply create_session(const IoctlRequest& req, const EndpointFactory& make_endpoint);
    IoctlReply retrieve_session(const IoctlRequest& req, const EndpointFactory& make_endpoint);
    IoctlReply preserve_fd(ModelSession& s, const IoctlRequest& req);
    IoctlReply retrieve_fd(ModelSession& s, const IoctlRequest& req);
    IoctlReply finish(ModelSession& s);
    IoctlReply get_name(ModelSession& s, const IoctlRequest& req);
    bool finish_files(ModelSession& s);  // all-or-nothing; false if some file cannot finish
    void unpreserve_files(ModelSession& s);
    void erase_session(ModelSession& s);
    [[nodiscard]] bool blocks_exceeded(std::size_t entries, std::uint32_t per_block) const;

    Profile profile_;
    std::uint32_t max_blocks_;
    std::vector<std::unique_ptr<FileHandler>> handlers_;
    std::uint64_t next_seq_ = 1;
    std::uint64_t liveupdate_num_ = 0;
    std::map<std::uint64_t, ModelSession> sessions_;
    std::unordered_map<std::string, std::uint64_t> outgoing_by_name_;
    std::unordered_map<std::string, std::uint64_t> incoming_by_name_;
    // Files LUO manages in any session (7.1+ double-preservation check), by handler id.
    std::unordered_map<std::string, int> managed_;
};

}  // namespace luo::kmodel
