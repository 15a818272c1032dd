// SPDX-License-Identifier: Apache-2.0
// RestartWitness: tells a restart that lost sessions from a first start.
//
// Without the service manager's fd store (luod started by hand, FileDescriptorStoreMax=0,
// the store flushed), a luod that stops takes its sessions with it: the kernel ends a
// session with its last fd, and the next luod finds nothing, exactly as on a first start.
// So luod keeps the names of its sessions, with this boot's id, in a small file in its
// runtime directory ($RUNTIME_DIRECTORY, else <root>/run/luod), which outlives luod but
// not the boot. At start, the names the file lists for this boot that the restore did not
// bring back are sessions lost with the last luod: logged as an error, one line each and
// one summary with its MESSAGE_ID, and counted in the service status.
//
// The file is a log: a line per session added ("<hex name>") or removed ("-<hex name>"),
// appended with one write(2) each, so keeping it costs O(1) per change however many
// sessions luod holds (a rewrite per change was O(n²) bytes while 100,000 were created).
// It is rewritten whole, to a new file renamed over it, only when it holds more than twice
// the lines its live names need: amortised O(1) too.
#pragma once

#include <cstddef>
#include <filesystem>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "luo/unique_fd.h"
#include "session_registry.h"

namespace luod {

class RestartWitness final : public SessionObserver {
public:
    RestartWitness(std::filesystem::path file, std::string boot_id);

    // The witness file for `root` (luod's --root): $RUNTIME_DIRECTORY/sessions, else
    // <root>/run/luod/sessions.
    static std::filesystem::path default_file(const std::filesystem::path& root);

    // Once at start, after the restore: compares the last luod's sessions (same boot) with
    // `sessions`, reports those missing, and records the current ones. Returns the names
    // lost. A witness that cannot be read or written is logged, never fatal.
    std::vector<std::string> check_at_start(const SessionRegistry& sessions, bool fd_store_enabled);

    void session_added(const SessionRecord& session) override;
    void session_removed(const SessionRecord& gone) override;
    void session_changed(const SessionRecord&, const std::vector<std::string>&) override {}

private:
    void append(char mark, const std::string& name);
    void rewrite();
    void failed(const std::error_code& ec);

    std::filesystem::path file_;
    std::string boot_id_;
    std::set<std::string> names_;
    luo::UniqueFd log_;      // the file, open for appending; closed after a failure
    std::size_t lines_ = 0;  // lines in the file after the boot id
    bool writable_ = true;   // false after a failed write: logged once, not on every change
};

}  // namespace luod
