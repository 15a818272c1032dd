// SPDX-License-Identifier: Apache-2.0
// UsageLedger: what each uid has luod hold, and the totals, kept as sessions change.
//
// Quotas are checked on every CreateSession and PreserveFd(s). Summing them from the records
// each time cost a walk over every session and file of every owner, so one user's call got
// slower with everyone else's sessions. The registry instead tells the ledger each record as
// it leaves (remove) and as it comes back changed (add); a check then costs a lookup. The
// ledger also indexes what the other checks used to search for: the outgoing session holding
// a file (refused a second time), the closed sessions (reaped on create) and each uid's names.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "session_record.h"

namespace luod {

class UsageLedger {
public:
    // What a uid has luod hold: its sessions (outgoing ones, and closed ones the kernel still
    // has through an fd AcquireFd gave out), and the files and bytes of all of its sessions.
    struct Usage {
        std::size_t sessions = 0;
        std::size_t files = 0;
        std::uint64_t bytes = 0;
    };

    // A record counted, or no longer counted, as it is now. Every add is undone by a remove of
    // the record in the same state: change a record only between the two.
    void add(const SessionRecord& session);
    void remove(const SessionRecord& session);

    [[nodiscard]] Usage of(uid_t uid) const;
    // The names of the sessions `uid` owns.
    [[nodiscard]] const std::set<std::string>& names_of(uid_t uid) const;
    [[nodiscard]] std::size_t outgoing() const { return outgoing_; }
    // Incoming sessions not closed (closed ones are not luod's to finish any more).
    [[nodiscard]] std::size_t incoming() const { return incoming_; }
    [[nodiscard]] std::size_t files() const { return files_; }
    // The files of outgoing sessions: what the next kernel is handed.
    [[nodiscard]] std::size_t outgoing_files() const { return outgoing_files_; }
    [[nodiscard]] const std::set<std::string>& closed() const { return closed_; }
    // The outgoing session that holds the file (dev, ino), or nullptr. Files restored from the
    // manifest have no identity (0, 0) and are not indexed.
    [[nodiscard]] const std::string* holder_of(dev_t dev, ino_t ino) const;

private:
    struct PerUid {
        Usage usage;
        std::set<std::string> names;
    };
    using Identity = std::pair<dev_t, ino_t>;

    std::map<uid_t, PerUid> by_uid_;
    std::size_t outgoing_ = 0, incoming_ = 0, files_ = 0, outgoing_files_ = 0;
    std::set<std::string> closed_;
    std::multimap<Identity, std::string> holders_;
};

// Takes a record out of the ledger for the time it changes, and puts it back as it is then.
class LedgerChange {
public:
    LedgerChange(UsageLedger& ledger, const SessionRecord& session) : ledger_(ledger), session_(session)
    {
        ledger_.remove(session_);
    }
    ~LedgerChange() { ledger_.add(session_); }
    LedgerChange(const LedgerChange&) = delete;
    LedgerChange& operator=(const LedgerChange&) = delete;

private:
    UsageLedger& ledger_;
    const SessionRecord& session_;
};

}  // namespace luod
