// SPDX-License-Identifier: Apache-2.0
#include "usage_ledger.h"

namespace luod {

namespace {

bool counts_as_session(const SessionRecord& r)
{
    return r.kind == luo::SessionKind::outgoing || r.state == SessionState::closed;
}

bool has_identity(const FileRecord& f)
{
    return f.dev != 0 || f.ino != 0;
}

}  // namespace

void UsageLedger::add(const SessionRecord& r)
{
    PerUid& u = by_uid_[r.owner.uid];
    u.names.insert(r.name);
    u.usage.sessions += counts_as_session(r) ? 1 : 0;
    u.usage.files += r.files.size();
    for (const FileRecord& f : r.files)
        u.usage.bytes += f.bytes;
    files_ += r.files.size();
    if (r.kind == luo::SessionKind::outgoing) {
        ++outgoing_;
        outgoing_files_ += r.files.size();
        for (const FileRecord& f : r.files)
            if (has_identity(f))
                holders_.emplace(Identity{f.dev, f.ino}, r.name);
    } else if (r.state != SessionState::closed) {
        ++incoming_;
    }
    if (r.state == SessionState::closed)
        closed_.insert(r.name);
}

void UsageLedger::remove(const SessionRecord& r)
{
    auto it = by_uid_.find(r.owner.uid);
    if (it == by_uid_.end())
        return;
    PerUid& u = it->second;
    u.names.erase(r.name);
    u.usage.sessions -= counts_as_session(r) ? 1 : 0;
    u.usage.files -= r.files.size();
    for (const FileRecord& f : r.files)
        u.usage.bytes -= f.bytes;
    if (u.names.empty())
        by_uid_.erase(it);
    files_ -= r.files.size();
    if (r.kind == luo::SessionKind::outgoing) {
        --outgoing_;
        outgoing_files_ -= r.files.size();
        for (const FileRecord& f : r.files) {
            if (!has_identity(f))
                continue;
            auto [first, last] = holders_.equal_range(Identity{f.dev, f.ino});
            for (auto h = first; h != last; ++h)
                if (h->second == r.name) {
                    holders_.erase(h);
                    break;
                }
        }
    } else if (r.state != SessionState::closed) {
        --incoming_;
    }
    if (r.state == SessionState::closed)
        closed_.erase(r.name);
}

UsageLedger::Usage UsageLedger::of(uid_t uid) const
{
    auto it = by_uid_.find(uid);
    return it == by_uid_.end() ? Usage{} : it->second.usage;
}

const std::set<std::string>& UsageLedger::names_of(uid_t uid) const
{
    static const std::set<std::string> none;
    auto it = by_uid_.find(uid);
    return it == by_uid_.end() ? none : it->second.names;
}

const std::string* UsageLedger::holder_of(dev_t dev, ino_t ino) const
{
    auto it = holders_.find(Identity{dev, ino});
    return it == holders_.end() ? nullptr : &it->second;
}

}  // namespace luod
