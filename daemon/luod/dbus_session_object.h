// SPDX-License-Identifier: Apache-2.0
// One Session object per session (/org/luod/LiveUpdate1/session/<opaque id>,
// org.luod.LiveUpdate1.Session): its methods act on that session through the registry,
// with the caller's identity; its properties read the record. To anyone but its owner and
// root the object is indistinguishable from one that does not exist: every call and property
// read gets org.freedesktop.DBus.Error.UnknownObject, as sd-bus answers for an absent path,
// and its changes are signalled to its owner's and root's connections only.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dbus_callers.h"
#include "luo-dbus/session-adaptor.h"
#include "session_registry.h"

namespace luod {

class SessionObject final
    : public sdbus::AdaptorInterfaces<org::luod::LiveUpdate1::Session_adaptor, sdbus::Properties_adaptor> {
public:
    SessionObject(sdbus::IConnection& bus, Callers& callers, SessionRegistry& sessions, std::string name,
                  const std::string& path);
    ~SessionObject();

    // PropertiesChanged, sent to the session owner's and root's connections only: State and
    // FileCount with their values, others invalidated.
    void properties_changed(const SessionRecord& session, const std::vector<std::string>& properties);
    [[nodiscard]] uid_t owner_uid() const { return owner_uid_; }
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    uint64_t PreserveFd(const sdbus::UnixFd& fd, const std::string& label) override;
    std::vector<uint64_t> PreserveFds(const std::vector<sdbus::Struct<sdbus::UnixFd, std::string>>& files) override;
    sdbus::UnixFd RetrieveFd(const std::string& label) override;
    sdbus::UnixFd AcquireFd() override;
    void Finish() override;
    void Close() override;

    std::string Name() override;
    std::string Kind() override;
    std::string State() override;
    uint32_t OwnerUID() override;
    std::string OwnerUnit() override;
    std::vector<sdbus::Struct<std::string, uint64_t, std::string>> Files() override;
    uint32_t FileCount() override;

    // The session, if the caller of this property read may see it; UnknownObject otherwise.
    const SessionRecord& record_for_caller();
    // The caller of this method, if it may see the session; UnknownObject otherwise.
    Caller caller();
    [[noreturn]] void unknown_object() const;

    Callers& callers_;
    SessionRegistry& sessions_;
    std::string name_;
    std::string path_;
    uid_t owner_uid_ = 0;  // for the signal of its removal, after the registry forgot it
};

// The Session objects, registered lazily: a session's object exists from the moment its path
// is first handed out (CreateSession, GetSession, ListSessions, RetrieveSession, SessionNew),
// so that a start with many sessions registers nothing per session, and only the objects
// someone was told of cost anything. A path is the prefix and 16 random hex digits, not
// derived from the name, so that the object tree (Introspect of the prefix, root's only) does
// not tell whose sessions exist under which names. Stable while luod runs; a new luod gives
// new paths.
class SessionObjects {
public:
    SessionObjects(sdbus::IConnection& bus, Callers& callers, SessionRegistry& sessions)
        : bus_(bus), callers_(callers), sessions_(sessions)
    {
    }

    // The path of `name`'s object, registered now if it was not yet.
    const std::string& publish(const std::string& name);
    // The object of `name`, if its path was handed out.
    [[nodiscard]] SessionObject* find(const std::string& name);
    // Takes `name`'s object off the tree's books (nullptr if it never had one); the caller
    // destroys it, which unregisters it.
    std::unique_ptr<SessionObject> withdraw(const std::string& name);
    // A path no object has (for SessionRemoved of a session nobody was told of).
    [[nodiscard]] std::string unused_path() const;

private:
    struct Published {
        std::string path;
        std::unique_ptr<SessionObject> object;
    };
    sdbus::IConnection& bus_;
    Callers& callers_;
    SessionRegistry& sessions_;
    std::map<std::string, Published> by_name_;
    std::set<std::string> paths_;
};

}  // namespace luod
