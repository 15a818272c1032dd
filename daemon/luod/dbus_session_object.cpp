// SPDX-License-Identifier: Apache-2.0
#include "dbus_session_object.h"

#include <systemd/sd-bus.h>

#include <cstdlib>

#include "api_error.h"
#include "luo/dbus_api.h"
#include "names.h"

namespace luod {

namespace {

using SessionIface = org::luod::LiveUpdate1::Session_adaptor;

}  // namespace

std::string session_path(const std::string& name)
{
    char* path = nullptr;
    if (::sd_bus_path_encode(luo::dbus::kSessionPathPrefix, name.c_str(), &path) < 0 || !path)
        throw std::bad_alloc();
    std::string out(path);
    std::free(path);
    return out;
}

SessionObject::SessionObject(sdbus::IConnection& bus, Callers& callers, SessionRegistry& sessions, std::string name)
    : AdaptorInterfaces(bus, session_path(name)), callers_(callers), sessions_(sessions), name_(std::move(name))
{
    registerAdaptor();
}

SessionObject::~SessionObject() { unregisterAdaptor(); }

void SessionObject::properties_changed(const std::vector<std::string>& properties)
{
    getObject().emitPropertiesChangedSignal(SessionIface::INTERFACE_NAME, properties);
}

const SessionRecord& SessionObject::record()
{
    const SessionRecord* r = sessions_.find(name_);
    if (!r)
        fail(ErrorKind::no_such_session, "session " + quote(name_) + " is gone");
    return *r;
}

const SessionRecord& SessionObject::record_for_caller() { return sessions_.get(callers_.of_property(), name_); }

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

// Properties other than Files say nothing a session's path does not: readable by anyone
// the bus policy lets in, and by sd-bus itself when it builds PropertiesChanged.
std::string SessionObject::Name()
{
    return guard([&] { return record().name; });
}

std::string SessionObject::Kind()
{
    return guard([&] { return std::string(luo::to_string(record().kind)); });
}

std::string SessionObject::State()
{
    return guard([&] { return std::string(to_string(record().state)); });
}

uint32_t SessionObject::OwnerUID()
{
    return guard([&] { return static_cast<uint32_t>(record().owner.uid); });
}

std::string SessionObject::OwnerUnit()
{
    return guard([&] { return record().owner.unit; });
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
    return guard([&] { return static_cast<uint32_t>(record().files.size()); });
}

}  // namespace luod
