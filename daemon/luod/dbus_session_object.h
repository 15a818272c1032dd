// SPDX-License-Identifier: Apache-2.0
// One Session object per session (/org/luod/LiveUpdate1/session/<encoded name>,
// org.luod.LiveUpdate1.Session): its methods act on that session through the registry,
// with the caller's identity; its properties read the record.
#pragma once

#include <string>
#include <vector>

#include "dbus_callers.h"
#include "luo-dbus/session-adaptor.h"
#include "session_registry.h"

namespace luod {

// The object path of a session (sd_bus_path_encode of its name).
std::string session_path(const std::string& name);

class SessionObject final
    : public sdbus::AdaptorInterfaces<org::luod::LiveUpdate1::Session_adaptor, sdbus::Properties_adaptor> {
public:
    SessionObject(sdbus::IConnection& bus, Callers& callers, SessionRegistry& sessions, std::string name);
    ~SessionObject();

    void properties_changed(const std::vector<std::string>& properties);

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

    const SessionRecord& record();
    // The session, if the caller of this property read may see it.
    const SessionRecord& record_for_caller();
    Caller caller() { return callers_.of_method(getObject()); }

    Callers& callers_;
    SessionRegistry& sessions_;
    std::string name_;
};

}  // namespace luod
