// SPDX-License-Identifier: Apache-2.0
#include "dbus_callers.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-login.h>

#include <cstdlib>

#include "api_error.h"
#include "luo/dbus_api.h"
#include "luo/error.h"

namespace luod {

void check_reply_size(std::size_t bytes, const char* what)
{
    if (bytes > kMaxReplyBytes)
        fail(ErrorKind::limits_exceeded, std::string(what) + " would take " + std::to_string(bytes >> 20) +
                                             " MiB, more than one reply may carry (" +
                                             std::to_string(kMaxReplyBytes >> 20) + " MiB)");
}

void rethrow_as_dbus_error()
{
    try {
        throw;
    } catch (const sdbus::Error&) {
        throw;
    } catch (const ApiError& e) {
        throw luo::sdbus_compat::make_error(dbus_error_name(e.kind()), e.what());
    } catch (const luo::Error& e) {
        throw luo::sdbus_compat::make_error(luo::dbus::error::kKernelError, e.what());
    } catch (const std::bad_alloc&) {
        throw luo::sdbus_compat::make_error(luo::dbus::error::kLimitsExceeded, "luod is out of memory");
    } catch (const std::exception& e) {
        spdlog::error("request failed unexpectedly: {}", e.what());
        throw luo::sdbus_compat::make_error(luo::dbus::error::kFailed, e.what());
    } catch (...) {
        throw luo::sdbus_compat::make_error(luo::dbus::error::kFailed, "unexpected failure");
    }
}

Callers::Callers(sdbus::IConnection& bus)
{
    // luod's own objects, and LogControl1's (dbus_log_control.h).
    for (std::string paths : {std::string("path_namespace='") + luo::dbus::kManagerPath + "'",
                              std::string("path='") + kLogControlPath + "'"}) {
        luo::sdbus_compat::add_match(bus, "type='method_call',interface='org.freedesktop.DBus.Properties'," + paths,
                                     [this](sdbus::Message& message) {
                                         try {
                                             property_caller_ = resolve(message);
                                         } catch (const std::exception& e) {
                                             property_caller_.reset();
                                             spdlog::warn("cannot identify a property reader: {}", e.what());
                                         }
                                     });
    }
    // A connection that left is forgotten (unique names are never reused).
    luo::sdbus_compat::add_match(bus, "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                 "member='NameOwnerChanged'",
                 [this](sdbus::Message& message) {
                     try {
                         std::string name, old_owner, new_owner;
                         message >> name >> old_owner >> new_owner;
                         if (new_owner.empty())
                             by_sender_.erase(name);
                     } catch (const std::exception& e) {
                         spdlog::warn("cannot read NameOwnerChanged: {}", e.what());
                     }
                 });
}

std::vector<std::string> Callers::listeners(uid_t owner) const
{
    std::vector<std::string> out;
    for (const auto& [sender, c] : by_sender_)
        if (c.uid == 0 || c.uid == owner)
            out.push_back(sender);
    return out;
}

Caller Callers::resolve(const sdbus::Message& message)
{
    std::string sender = message.getSender();
    if (auto it = by_sender_.find(sender); it != by_sender_.end())
        return it->second;
    Caller c;
    c.uid = message.getCredsUid();
    c.pid = message.getCredsPid();
    char* unit = nullptr;
    if (::sd_pid_get_unit(c.pid, &unit) >= 0 && unit) {
        c.unit = unit;
        std::free(unit);
    }
    if (by_sender_.size() >= 4096)  // bounded: others' entries are cheap to learn again, root's listen
        std::erase_if(by_sender_, [](const auto& kv) { return kv.second.uid != 0; });
    by_sender_.emplace(sender, c);
    return c;
}

Caller Callers::of_method(const sdbus::IObject& object)
{
    luo::sdbus_compat::CurrentMessage message(object);
    if (!message)
        fail(ErrorKind::access_denied, "cannot identify the caller");
    return resolve(*message);
}

std::string Callers::sender_of_method(const sdbus::IObject& object) const
{
    luo::sdbus_compat::CurrentMessage message(object);
    if (!message)
        fail(ErrorKind::access_denied, "cannot identify the caller");
    return (*message).getSender();
}

Caller Callers::of_property() const
{
    if (!property_caller_)
        fail(ErrorKind::access_denied, "cannot identify the caller");
    return *property_caller_;
}

Options decode_options(const std::map<std::string, sdbus::Variant>& in)
{
    Options out;
    for (const auto& [key, variant] : in) {
        OptionValue v{variant.peekValueType(), {}};
        if (v.signature == "b")
            v.value = variant.get<bool>();
        else if (v.signature == "u")
            v.value = variant.get<std::uint32_t>();
        else if (v.signature == "t")
            v.value = variant.get<std::uint64_t>();
        else if (v.signature == "s")
            v.value = variant.get<std::string>();
        out.emplace(key, std::move(v));
    }
    return out;
}


}  // namespace luod
