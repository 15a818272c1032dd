// SPDX-License-Identifier: Apache-2.0
#include "dbus_session_object.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>

#include <spdlog/fmt/fmt.h>

#include "api_error.h"
#include "luo/dbus_api.h"
#include "names.h"

namespace luod {

namespace {

using SessionIface = org::luod::LiveUpdate1::Session_adaptor;

}  // namespace

std::string SessionObjects::unused_path() const
{
    std::string path;
    do {
        std::uint64_t id = 0;
        if (::getrandom(&id, sizeof id, 0) != sizeof id)
            throw std::system_error(errno, std::generic_category(), "getrandom");
        path = fmt::format("{}/s{:016x}", luo::dbus::kSessionPathPrefix, id);
    } while (paths_.count(path));
    return path;
}

const std::string& SessionObjects::publish(const std::string& name)
{
    auto it = by_name_.find(name);
    if (it != by_name_.end())
        return it->second.path;
    if (!sessions_.listed(name))  // a session of the update is published without restoring it
        fail(ErrorKind::no_such_session, "no session " + quote(name));
    Published p{unused_path(), nullptr};
    p.object = std::make_unique<SessionObject>(bus_, callers_, sessions_, name, p.path);
    paths_.insert(p.path);
    return by_name_.emplace(name, std::move(p)).first->second.path;
}

SessionObject* SessionObjects::find(const std::string& name)
{
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second.object.get();
}

std::unique_ptr<SessionObject> SessionObjects::withdraw(const std::string& name)
{
    auto it = by_name_.find(name);
    if (it == by_name_.end())
        return nullptr;
    std::unique_ptr<SessionObject> object = std::move(it->second.object);
    paths_.erase(it->second.path);
    by_name_.erase(it);
    return object;
}

SessionObject::SessionObject(sdbus::IConnection& bus, Callers& callers, SessionRegistry& sessions, std::string name,
                             const std::string& path)
    : AdaptorInterfaces(bus, luo::sdbus_compat::object_path(path)), callers_(callers), sessions_(sessions), name_(std::move(name)), path_(path)
{
    if (std::optional<SessionRegistry::Listed> l = sessions_.listed(name_))
        owner_uid_ = l->owner.uid;
    registerAdaptor();
}

SessionObject::~SessionObject() { unregisterAdaptor(); }

void SessionObject::properties_changed(const SessionRecord& session, const std::vector<std::string>& properties)
{
    std::map<std::string, sdbus::Variant> changed;
    std::vector<std::string> invalidated;
    for (const std::string& p : properties) {
        if (p == "State")
            changed.emplace(p, sdbus::Variant(std::string(to_string(session.state))));
        else if (p == "FileCount")
            changed.emplace(p, sdbus::Variant(static_cast<std::uint32_t>(session.files.size())));
        else
            invalidated.push_back(p);
    }
    for (const std::string& destination : callers_.listeners(session.owner.uid)) {
        sdbus::Signal signal =
            luo::sdbus_compat::create_signal(getObject(), "org.freedesktop.DBus.Properties", "PropertiesChanged");
        signal << std::string(SessionIface::INTERFACE_NAME) << changed << invalidated;
        signal.setDestination(destination);
        getObject().emitSignal(signal);
    }
}

void SessionObject::unknown_object() const
{
    // Word for word what sd-bus answers for a path with no object.
    throw luo::sdbus_compat::make_error("org.freedesktop.DBus.Error.UnknownObject", "Unknown object '" + path_ + "'.");
}

const SessionRecord& SessionObject::record_for_caller()
{
    const SessionRecord* r = sessions_.find(name_);
    if (!r || !SessionRegistry::may_access(callers_.of_property(), *r))
        unknown_object();
    return *r;
}

Caller SessionObject::caller()
{
    Caller who = callers_.of_method(getObject());
    const SessionRecord* r = sessions_.find(name_);
    if (!r || !SessionRegistry::may_access(who, *r))
        unknown_object();
    return who;
}

uint64_t SessionObject::PreserveFd(const sdbus::UnixFd& fd, const std::string& label)
{
    return guard([&] { return sessions_.preserve(caller(), name_, {{fd.get(), label}}).front(); });
}

std::vector<uint64_t> SessionObject::PreserveFds(const std::vector<sdbus::Struct<sdbus::UnixFd, std::string>>& files)
{
    return guard([&] {
        std::vector<FileToPreserve> batch;
        for (const auto& f : files)
            batch.push_back({std::get<0>(f).get(), std::get<1>(f)});
        return sessions_.preserve(caller(), name_, batch);
    });
}

sdbus::UnixFd SessionObject::RetrieveFd(const std::string& label)
{
    return guard([&] {
        luo::UniqueFd fd = sessions_.retrieve_fd(caller(), name_, label);
        return sdbus::UnixFd(fd.release(), sdbus::adopt_fd);
    });
}

sdbus::UnixFd SessionObject::AcquireFd()
{
    return guard([&] {
        luo::UniqueFd fd = sessions_.acquire_fd(caller(), name_);
        return sdbus::UnixFd(fd.release(), sdbus::adopt_fd);
    });
}

void SessionObject::Finish()
{
    guard([&] { sessions_.finish(caller(), name_); });
}

void SessionObject::Close()
{
    guard([&] { sessions_.close(caller(), name_); });
}

// Every property is for the owner and root: sd-bus never reads them itself, since
// properties_changed() builds its signal from the record.
std::string SessionObject::Name()
{
    return guard([&] { return record_for_caller().name; });
}

std::string SessionObject::Kind()
{
    return guard([&] { return std::string(luo::to_string(record_for_caller().kind)); });
}

std::string SessionObject::State()
{
    return guard([&] { return std::string(to_string(record_for_caller().state)); });
}

uint32_t SessionObject::OwnerUID()
{
    return guard([&] { return static_cast<uint32_t>(record_for_caller().owner.uid); });
}

std::string SessionObject::OwnerUnit()
{
    return guard([&] { return record_for_caller().owner.unit; });
}

std::vector<sdbus::Struct<std::string, uint64_t, std::string>> SessionObject::Files()
{
    return guard([&] {
        std::vector<sdbus::Struct<std::string, uint64_t, std::string>> out;
        std::size_t bytes = 0;
        for (const FileRecord& f : record_for_caller().files) {
            bytes += f.label.size() + to_string(f.type).size() + 32;
            check_reply_size(bytes, "the list of files");
            out.emplace_back(f.label, f.token, std::string(to_string(f.type)));
        }
        return out;
    });
}

uint32_t SessionObject::FileCount()
{
    return guard([&] { return static_cast<uint32_t>(record_for_caller().files.size()); });
}

}  // namespace luod
