// SPDX-License-Identifier: Apache-2.0
// org.freedesktop.LogControl1 at /org/freedesktop/LogControl1 (dbus/org.freedesktop.LogControl1.xml):
// luod's log level and target while it runs, as `systemctl service-log-level luod debug` sets
// them. Reading is open to everyone; writing is root's.
#pragma once

#include <string>

#include "dbus_callers.h"
#include "luo-dbus/log-control-adaptor.h"

namespace luod {

class LogControlObject final : public sdbus::AdaptorInterfaces<org::freedesktop::LogControl1_adaptor> {
public:
    LogControlObject(sdbus::IConnection& bus, Callers& callers, std::string syslog_identifier);
    ~LogControlObject();

private:
    std::string LogLevel() override;
    void LogLevel(const std::string& value) override;
    std::string LogTarget() override;
    void LogTarget(const std::string& value) override;
    std::string SyslogIdentifier() override;

    // The reader of a Set: root, or ApiError(access_denied).
    Caller writer(const char* what);

    Callers& callers_;
    std::string syslog_identifier_;
    // The name last set, which reads back as set ("notice" is logged as info, and reads "notice").
    std::string level_name_;
};

}  // namespace luod
