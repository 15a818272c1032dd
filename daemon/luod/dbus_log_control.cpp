// SPDX-License-Identifier: Apache-2.0
#include "dbus_log_control.h"

#include <spdlog/spdlog.h>

#include "api_error.h"
#include "log.h"
#include "luo-dbus/sdbus_compat.h"

namespace luod {

LogControlObject::LogControlObject(sdbus::IConnection& bus, Callers& callers, std::string syslog_identifier)
    : AdaptorInterfaces(bus, luo::sdbus_compat::object_path(kLogControlPath)),
      callers_(callers),
      syslog_identifier_(std::move(syslog_identifier)),
      level_name_(log::syslog_name_of(spdlog::default_logger()->level()))
{
    registerAdaptor();
}

LogControlObject::~LogControlObject()
{
    unregisterAdaptor();
}

Caller LogControlObject::writer(const char* what)
{
    Caller who = callers_.of_property();
    if (!who.is_root())
        fail(ErrorKind::access_denied, std::string("only root may change luod's ") + what);
    return who;
}

std::string LogControlObject::LogLevel()
{
    return guard([&] {
        // luod.conf's level or one set here; the name set is kept while it still applies.
        auto level = spdlog::default_logger()->level();
        if (log::level_from_syslog_name(level_name_) != level)
            level_name_ = log::syslog_name_of(level);
        return level_name_;
    });
}

void LogControlObject::LogLevel(const std::string& value)
{
    guard([&] {
        Caller who = writer("log level");
        auto level = log::level_from_syslog_name(value);
        if (!level)
            fail(ErrorKind::invalid_args,
                 "unknown log level '" + value + "': emerg, alert, crit, err, warning, notice, info or debug");
        log::set_level(*level);
        level_name_ = value;
        spdlog::info("log level set to {} by uid {}", value, who.uid);
    });
}

std::string LogControlObject::LogTarget()
{
    return guard([&] { return std::string(log::name_of(log::current_target())); });
}

void LogControlObject::LogTarget(const std::string& value)
{
    guard([&] {
        Caller who = writer("log target");
        auto target = log::target_from_name(value);
        if (!target) {
            if (value == "kmsg" || value == "syslog" || value == "journal-or-kmsg" || value == "syslog-or-kmsg")
                fail(ErrorKind::not_supported, "luod does not log to " + value + ": journal, console, null or auto");
            fail(ErrorKind::invalid_args, "unknown log target '" + value + "': journal, console, null or auto");
        }
        log::set_target(*target);
        spdlog::info("log target set to {} by uid {}", log::name_of(*target), who.uid);
    });
}

std::string LogControlObject::SyslogIdentifier()
{
    return syslog_identifier_;
}

}  // namespace luod
