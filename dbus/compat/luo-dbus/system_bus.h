// SPDX-License-Identifier: Apache-2.0
// luod's connection to the system bus, part of the sdbus-c++ compatibility layer
// (sdbus_compat.h): with sdbus-c++ 2 luod opens the sd_bus itself to put a filter on it.
#pragma once

#include <sdbus-c++/sdbus-c++.h>
#include <systemd/sd-bus.h>

#include <cstring>
#include <memory>

#ifndef LUO_SDBUS_MAJOR
#error "LUO_SDBUS_MAJOR is not defined: link luo-dbus-glue"
#endif

namespace luo::sdbus_compat {

namespace detail {

// A filter of luod's bus (sd_bus_add_filter): a Properties call (Get, Set, GetAll) whose
// interface or property is not a valid D-Bus name gets a short InvalidArgs here, before
// sd-bus looks for it.
inline int refuse_invalid_property_names(sd_bus_message* m, void*, sd_bus_error* error)
{
    if (!sd_bus_message_is_method_call(m, "org.freedesktop.DBus.Properties", nullptr))
        return 0;
    const char* member = sd_bus_message_get_member(m);
    bool get_all = std::strcmp(member, "GetAll") == 0;
    if (!get_all && std::strcmp(member, "Get") != 0 && std::strcmp(member, "Set") != 0)
        return 0;
    const char* interface = nullptr;
    const char* property = nullptr;
    // GetAll("") and Get("", p) ask every interface of the object.
    bool valid = sd_bus_message_read_basic(m, 's', &interface) > 0 &&
                 (*interface == '\0' || sd_bus_interface_name_is_valid(interface) > 0);
    if (valid && !get_all)
        valid = sd_bus_message_read_basic(m, 's', &property) > 0 && sd_bus_member_name_is_valid(property) > 0;
    (void)sd_bus_message_rewind(m, true);
    if (valid)
        return 0;
    return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "not a valid interface or property name");
}

}  // namespace detail

// luod's connection to the system bus. sd-bus answers a Properties call for an interface or
// property no object has itself, quoting the names the caller sent; sid's libsystemd (262)
// escapes their bytes as it does so (\xNN: four bytes for one), so a call near the bus's
// message size limit would make luod send an answer four times over it (issue 9's finding 2
// was that growth in luod's own texts). A filter answers calls with names that are not
// valid D-Bus names (at most 255 bytes of [A-Za-z0-9_.]) first, with a short InvalidArgs.
// sdbus-c++ 1.2 cannot take an sd_bus of ours, and Debian 12's and 13's libsystemd (252,
// 257) quote the names once, unescaped: there it is the plain connection.
inline std::unique_ptr<sdbus::IConnection> open_system_bus_for_service()
{
#if LUO_SDBUS_MAJOR >= 2
    sd_bus* raw = nullptr;
    int r = sd_bus_open_system(&raw);
    if (r >= 0)
        r = sd_bus_add_filter(raw, nullptr, detail::refuse_invalid_property_names, nullptr);
    if (r < 0) {
        sd_bus_unref(raw);
        throw sdbus::createError(-r, "cannot connect to the system bus");
    }
    return sdbus::createBusConnection(raw);  // it owns raw from now on
#else
    return sdbus::createSystemBusConnection();
#endif
}

}  // namespace luo::sdbus_compat
