// SPDX-License-Identifier: Apache-2.0
// The D-Bus layer's ground rules: who is calling, and how whatever a handler throws reaches
// the caller as a D-Bus error (sdbus-c++ 1.2 aborts the process on any exception other
// than sdbus::Error). Every handler runs its body inside guard().
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "luo-dbus/sdbus_compat.h"

#include "method_options.h"
#include "session_record.h"

namespace luod {

// org.freedesktop.LogControl1's object (dbus_log_control.h).
inline constexpr const char* kLogControlPath = "/org/freedesktop/LogControl1";

// The largest reply luod sends: half the system bus's default message limit (32 MiB). The
// bus disconnects a peer that sends more, and luod would lose every caller with it.
inline constexpr std::size_t kMaxReplyBytes = std::size_t{16} << 20;
// Throws ApiError(limits_exceeded) when a reply of about `bytes` would exceed that.
void check_reply_size(std::size_t bytes, const char* what);

// Maps anything a handler throws to sdbus::Error.
[[noreturn]] void rethrow_as_dbus_error();

template <typename F>
auto guard(F&& body) -> decltype(body())
{
    try {
        return body();
    } catch (...) {
        rethrow_as_dbus_error();
    }
}

// Who sends what luod handles. Identities are cached by unique bus name: dbus-daemon never
// reuses one, and a connection's uid (from SO_PEERCRED at connect) never changes, so the
// daemon is asked once per client instead of once per call.
//
// sdbus-c++ 1.2 does not tell property getters who is asking. sd-bus runs local match
// callbacks before object vtables, so a match on Properties calls records the caller just
// before the getter runs; a getter that finds none denies access.
//
// The connections it knows are also who hears of sessions (dbus_service.h): a connection
// that called luod once (any method, or a property read) and has not left the bus since.
class Callers {
public:
    explicit Callers(sdbus::IConnection& bus);
    Caller of_method(const sdbus::IObject& object);
    // The unique bus name of the connection whose call runs now (what polkit is asked about).
    std::string sender_of_method(const sdbus::IObject& object) const;
    Caller of_property() const;
    // The unique names of known connections of root and of `owner`.
    [[nodiscard]] std::vector<std::string> listeners(uid_t owner) const;

private:
    Caller resolve(const sdbus::Message& message);

    std::map<std::string, Caller> by_sender_;
    std::optional<Caller> property_caller_;
};

// An a{sv} as method_options.h takes it: the values of the types options use, the signature
// of any other.
Options decode_options(const std::map<std::string, sdbus::Variant>& in);

}  // namespace luod
