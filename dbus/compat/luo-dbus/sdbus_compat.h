// SPDX-License-Identifier: Apache-2.0
// sdbus-c++ 1.2 (Debian 12) and 2.x (Debian 13: 2.1, sid: 2.3): the one place where the code
// meets their differences. Everything else uses sdbus-c++ through these names or through the
// API both versions share (the convenience calls on IProxy, Variant, UnixFd, Struct, Error's
// getters). dbus/CMakeLists.txt defines LUO_SDBUS_MAJOR for every target linking
// luo-dbus-glue.
//
// What changed in 2.0 and is handled here: names and paths are strong types (ServiceName,
// InterfaceName, MemberName, Error::Name, ...) with explicit constructors; the currently
// processed message is returned by value instead of by pointer; vtables are registered in
// one addVTable() call instead of registerMethod()...finishRegistration(); match rules have
// no floating_slot overload (floating is the default); processPendingRequest() became
// processPendingEvent() and PollData carries a chrono timeout and a second fd (eventFd);
// signatures are std::arrays instead of strings; Properties' maps are keyed by PropertyName.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#ifndef LUO_SDBUS_MAJOR
#error "LUO_SDBUS_MAJOR is not defined: link luo-dbus-glue"
#endif

namespace luo::sdbus_compat {

#if LUO_SDBUS_MAJOR >= 2
using ServiceName = sdbus::ServiceName;
using InterfaceName = sdbus::InterfaceName;
using MemberName = sdbus::MemberName;
using PropertyName = sdbus::PropertyName;
using ErrorName = sdbus::Error::Name;
#else
using ServiceName = std::string;
using InterfaceName = std::string;
using MemberName = std::string;
using PropertyName = std::string;
using ErrorName = std::string;
#endif

// What org.freedesktop.DBus.Properties.GetAll returns through Properties_proxy.
using PropertyMap = std::map<PropertyName, sdbus::Variant>;

inline ServiceName service_name(std::string name) { return ServiceName(std::move(name)); }
inline InterfaceName interface_name(std::string name) { return InterfaceName(std::move(name)); }
inline sdbus::ObjectPath object_path(std::string path) { return sdbus::ObjectPath(std::move(path)); }

inline sdbus::Error make_error(std::string name, std::string message)
{
    return sdbus::Error(ErrorName(std::move(name)), std::move(message));
}

inline std::unique_ptr<sdbus::IProxy> create_proxy(sdbus::IConnection& bus, std::string destination, std::string path)
{
    return sdbus::createProxy(bus, service_name(std::move(destination)), object_path(std::move(path)));
}

inline std::unique_ptr<sdbus::IObject> create_object(sdbus::IConnection& bus, std::string path)
{
    return sdbus::createObject(bus, object_path(std::move(path)));
}

inline void request_name(sdbus::IConnection& bus, std::string name) { bus.requestName(service_name(std::move(name))); }

// After a proxy's uponSignal()...call(): 1.x adds the match rules only here; 2.x did so already.
inline void finish_proxy_registration([[maybe_unused]] sdbus::IProxy& proxy)
{
#if LUO_SDBUS_MAJOR < 2
    proxy.finishRegistration();
#endif
}

// The message whose handler runs now on an object: 1.x lends a pointer (its Message cannot be
// copied), 2.x returns a copy. Empty when no handler runs.
class CurrentMessage {
public:
    explicit CurrentMessage(const sdbus::IObject& object)
    {
#if LUO_SDBUS_MAJOR >= 2
        sdbus::Message message = object.getCurrentlyProcessedMessage();
        if (message.isValid())
            message_.emplace(std::move(message));
#else
        message_ = object.getCurrentlyProcessedMessage();
#endif
    }
    explicit operator bool() const { return static_cast<bool>(message_); }
    const sdbus::Message& operator*() const { return *message_; }

private:
#if LUO_SDBUS_MAJOR >= 2
    std::optional<sdbus::Message> message_;
#else
    const sdbus::Message* message_ = nullptr;
#endif
};

// A match rule whose handler lives as long as the connection.
inline void add_match(sdbus::IConnection& bus, const std::string& rule, std::function<void(sdbus::Message&)> handler)
{
#if LUO_SDBUS_MAJOR >= 2
    bus.addMatch(rule, [handler = std::move(handler)](sdbus::Message message) { handler(message); });
#else
    bus.addMatch(rule, [handler = std::move(handler)](sdbus::Message& message) { handler(message); },
                 sdbus::floating_slot);
#endif
}

inline void emit_properties_changed(sdbus::IObject& object, const char* interface,
                                    const std::vector<std::string>& properties)
{
#if LUO_SDBUS_MAJOR >= 2
    std::vector<sdbus::PropertyName> names(properties.begin(), properties.end());
    object.emitPropertiesChangedSignal(sdbus::InterfaceName(interface), names);
#else
    object.emitPropertiesChangedSignal(interface, properties);
#endif
}

// A signal message to fill and send by hand (for one destination, say).
inline sdbus::Signal create_signal(sdbus::IObject& object, const char* interface, const char* member)
{
#if LUO_SDBUS_MAJOR >= 2
    return object.createSignal(sdbus::InterfaceName(interface), sdbus::SignalName(member));
#else
    return object.createSignal(interface, member);
#endif
}

// The D-Bus type code of the message's next argument ("s", "a", ...) and, for a container,
// the signature of its contents.
inline std::pair<std::string, std::string> peek_type(const sdbus::Message& message)
{
#if LUO_SDBUS_MAJOR >= 2
    auto [type, contents] = message.peekType();
    return {std::string(1, type), contents ? contents : ""};
#else
    std::string type, contents;
    message.peekType(type, contents);
    return {type, contents};
#endif
}

// The D-Bus signature of a C++ type, e.g. "a{sv}".
template <typename T>
std::string signature_of()
{
#if LUO_SDBUS_MAJOR >= 2
    const auto& chars = sdbus::signature_of_v<T>;
    return std::string(chars.begin(), chars.end());
#else
    return sdbus::signature_of<T>::str();
#endif
}

// For an external event loop: what to poll and until when.
struct PollRequest {
    int fd;             // the bus
    short events;       // poll(2) events for `fd`
    int wake_fd;        // readable when the connection has work queued from another thread; -1 if none
    std::uint64_t deadline_usec;  // CLOCK_MONOTONIC, UINT64_MAX for none
};

inline PollRequest poll_request(const sdbus::IConnection& bus)
{
    auto data = bus.getEventLoopPollData();
#if LUO_SDBUS_MAJOR >= 2
    std::uint64_t deadline = data.timeout == std::chrono::microseconds::max()
                                 ? UINT64_MAX
                                 : static_cast<std::uint64_t>(data.timeout.count());
    return {data.fd, data.events, data.eventFd, deadline};
#else
    return {data.fd, data.events, -1, data.timeout_usec};
#endif
}

// Processes one pending message or event; false when there was none.
inline bool process_pending(sdbus::IConnection& bus)
{
#if LUO_SDBUS_MAJOR >= 2
    return bus.processPendingEvent();
#else
    return bus.processPendingRequest();
#endif
}

// Methods, properties and signals of one interface of an object built by hand (not from XML): 1.x
// registers each at once and needs finish(); 2.x takes them all in one vtable at finish().
class VTable {
public:
    VTable(sdbus::IObject& object, std::string interface) : object_(object), interface_(std::move(interface)) {}

    template <typename Handler>
    VTable& method(const std::string& name, Handler&& handler)
    {
#if LUO_SDBUS_MAJOR >= 2
        items_.emplace_back(sdbus::registerMethod(name).implementedAs(std::forward<Handler>(handler)));
#else
        object_.registerMethod(name).onInterface(interface_).implementedAs(std::forward<Handler>(handler));
#endif
        return *this;
    }

    template <typename Getter>
    VTable& property(const std::string& name, Getter&& getter)
    {
#if LUO_SDBUS_MAJOR >= 2
        items_.emplace_back(sdbus::registerProperty(name).withGetter(std::forward<Getter>(getter)));
#else
        object_.registerProperty(name).onInterface(interface_).withGetter(std::forward<Getter>(getter));
#endif
        return *this;
    }

    template <typename... Args>
    VTable& signal(const std::string& name)
    {
#if LUO_SDBUS_MAJOR >= 2
        items_.emplace_back(sdbus::registerSignal(name).withParameters<Args...>());
#else
        object_.registerSignal(name).onInterface(interface_).template withParameters<Args...>();
#endif
        return *this;
    }

    void finish()
    {
#if LUO_SDBUS_MAJOR >= 2
        object_.addVTable(std::move(items_)).forInterface(interface_);
#else
        object_.finishRegistration();
#endif
    }

private:
    sdbus::IObject& object_;
    std::string interface_;
#if LUO_SDBUS_MAJOR >= 2
    std::vector<sdbus::VTableItem> items_;
#endif
};

}  // namespace luo::sdbus_compat
