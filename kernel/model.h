// SPDX-License-Identifier: Apache-2.0
// luo-kernel-model: one "kernel" boot of the model.
//
// DOC: a boot's life
//
// A boot starts from its command line and, after a kexec, from the handover the previous
// boot left (a sealed memfd with the serialized sessions, and the preserved memory as
// inherited fds). It writes the pseudo files under its root (cmdline, osrelease, boot_id,
// kexec_loaded, the liveupdate state file), restores the incoming sessions into its LuoCore,
// and serves: /dev/liveupdate and every session fd are socket endpoints
// (model_endpoints.cpp); kexec_file_load, reboot(KEXEC) and the test controls come on the
// syscall socket (model_syscalls.cpp). A successful reboot(KEXEC) freezes and serializes
// the outgoing sessions, ends the simulated userspace and re-executes the binary as the
// loaded kernel: the process never returns from it. SIGTERM/SIGINT power the model off.
//
// Pseudo files are updated before the reply to the request that changed them. A change
// caused by a close (e.g. the last session gone, state back to "normal") is seen once the
// model processed that close, i.e. before it answers any later request, but a reader that
// only reads the file right after close() may see it a moment late.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fake_hardware.h"
#include "kexec_image.h"
#include "luo/unique_fd.h"
#include "luo_core.h"
#include "profile.h"
#include "userspace.h"

namespace luo::kmodel {

struct WireRequest;  // a decoded request datagram (wire_request.h)

struct ModelConfig {
    std::filesystem::path root;
    Profile profile;
    std::string release;
    std::string cmdline = "kho=on liveupdate=on";
    std::uint32_t max_blocks = kDefaultMaxBlocks;
    UserspaceConfig userspace;
    std::string log_level = "info";

    // What the previous kernel handed over (set on the command line of a re-exec).
    std::uint64_t boot_number = 1;
    int handover_fd = -1;
    int memory_fd_base = -1;
    std::size_t memory_fd_count = 0;
    // Tests: a handover blob to boot from, as if a previous kernel had written it.
    std::filesystem::path handover_file;
    // When the previous kernel got the reboot request and when it exec'd us
    // (CLOCK_REALTIME, microseconds), for the blackout measurements.
    std::uint64_t previous_reboot_request_usec = 0;
    std::uint64_t previous_exec_usec = 0;
};

class Model {
public:
    explicit Model(ModelConfig config);
    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    // Boots and serves until SIGTERM/SIGINT (returns 0) or a fatal error (returns 1).
    // A successful kexec does not return: the process becomes the next kernel.
    int run();

private:
    enum class Source : std::uint8_t { device_listener = 1, syscall_listener, device, session, syscall_conn, signal };

    void boot();
    void restore_handover(std::vector<std::byte> blob, std::vector<UniqueFd> memory);
    UniqueFd listen_at(const std::filesystem::path& path);
    void watch(int fd, Source source, std::uint64_t id);
    void unwatch(int fd);
    // Processes every endpoint whose last reference is already gone. A kernel releases a
    // file before close() returns, so the model does this before serving any request or
    // open: a client that closes and then acts must see the close done.
    void reap_hangups();
    void close_device();
    void close_session(std::uint64_t seq);
    void serve_device(WireRequest& req);
    void serve_session(ModelSession& s, WireRequest& req);
    void update_state_file();
    void write_kexec_loaded();

    void on_device_listener();
    void on_syscall_listener();
    void on_device_endpoint();
    void on_session(std::uint64_t seq);
    void on_syscall_conn(std::uint64_t id);
    bool on_signal();  // false: shut down

    // Handles every queued request on an endpoint; returns false once its peer closed.
    bool drain_requests(int fd, const std::function<void(WireRequest&)>& handle);
    void handle_syscall(pid_t caller_pid, uid_t caller_uid, std::uint64_t request, std::span<const std::byte> arg,
                        std::vector<UniqueFd>& payload, int reply_sock);
    int kexec_file_load(std::span<const std::byte> arg, std::vector<UniqueFd>& payload);
    int reboot_kexec(pid_t caller);
    [[noreturn]] void exec_next_kernel(std::vector<std::byte> blob, const std::vector<int>& memory);
    std::string status_json() const;
    void shutdown();

    ModelConfig config_;
    bool kho_enabled_ = false;
    bool luo_enabled_ = false;
    int restore_error_ = 0;  // non-zero: every open of the device fails with EIO
    std::string boot_id_;
    std::uint64_t booted_usec_ = 0;
    std::uint64_t reboot_request_usec_ = 0;
    FakeHardware hardware_;
    std::unique_ptr<LuoCore> core_;
    std::optional<KexecImage> loaded_image_;
    bool rebooting_ = false;
    std::string last_state_;

    UniqueFd epoll_;
    UniqueFd hangups_;  // device and session endpoints, watched for hang-up only
    bool reaping_ = false;
    std::uint64_t serving_ = 0;  // tag of the endpoint whose requests are being served
    UniqueFd signals_;
    UniqueFd device_listener_;
    UniqueFd syscall_listener_;
    UniqueFd device_endpoint_;     // the open "file description" of /dev/liveupdate
    ino_t device_client_inode_ = 0;
    struct SyscallConn {
        UniqueFd sock;
        pid_t pid = 0;
        uid_t uid = 0;
    };
    std::map<std::uint64_t, SyscallConn> syscall_conns_;
    std::uint64_t next_conn_id_ = 1;
    pid_t init_pid_ = 0;
};

}  // namespace luo::kmodel
