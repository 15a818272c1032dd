// SPDX-License-Identifier: Apache-2.0
#include "polkit_stand_in.h"

#include "luo-dbus/sdbus_compat.h"

#include <chrono>
#include <map>

namespace luo::test {

namespace {

using Subject = sdbus::Struct<std::string, std::map<std::string, sdbus::Variant>>;
using Answer = sdbus::Struct<bool, bool, std::map<std::string, std::string>>;

}  // namespace

PolkitStandIn::PolkitStandIn(const std::string& bus_address)
    : bus_(sdbus::createSessionBusConnectionWithAddress(bus_address)),
      lookup_(sdbus::createSessionBusConnectionWithAddress(bus_address))
{
    const char* authority = "org.freedesktop.PolicyKit1.Authority";
    object_ = luo::sdbus_compat::create_object(*bus_, "/org/freedesktop/PolicyKit1/Authority");
    luo::sdbus_compat::VTable(*object_, authority)
        .method("CheckAuthorization",
                [this](const Subject& subject, const std::string& action, const std::map<std::string, std::string>&,
                       std::uint32_t flags, const std::string&) -> Answer {
                    Question q{subject.get<0>(), 0, action, flags};
                    if (q.subject_kind != "system-bus-name")
                        throw luo::sdbus_compat::make_error("org.freedesktop.PolicyKit1.Error.Failed",
                                                            "the stand-in knows only bus names");
                    auto name = subject.get<1>().find("name");
                    if (name == subject.get<1>().end())
                        throw luo::sdbus_compat::make_error("org.freedesktop.PolicyKit1.Error.Failed",
                                                            "a bus name subject without a name");
                    auto dbus =
                        luo::sdbus_compat::create_proxy(*lookup_, "org.freedesktop.DBus", "/org/freedesktop/DBus");
                    std::uint32_t uid = 0;
                    dbus->callMethod("GetConnectionUnixUser")
                        .onInterface("org.freedesktop.DBus")
                        .withArguments(name->second.get<std::string>())
                        .storeResultsTo(uid);
                    q.uid = uid;
                    std::unique_lock lock(mutex_);
                    questions_.push_back(q);
                    changed_.notify_all();
                    changed_.wait(lock, [&] { return !held_; });
                    if (fail_)
                        throw luo::sdbus_compat::make_error("org.freedesktop.PolicyKit1.Error.Failed",
                                                            "the stand-in is told to fail");
                    bool yes = allowed_.count({q.uid, action}) > 0;
                    return Answer{yes, !yes, {}};
                })
        .finish();
    luo::sdbus_compat::request_name(*bus_, "org.freedesktop.PolicyKit1");
    bus_->enterEventLoopAsync();
}

PolkitStandIn::~PolkitStandIn()
{
    hold_answers(false);  // a handler waiting for the release would keep the loop from ending
    bus_->leaveEventLoop();
    object_.reset();
}

void PolkitStandIn::allow(uid_t uid, const std::string& action)
{
    std::lock_guard lock(mutex_);
    allowed_.emplace(uid, action);
}

void PolkitStandIn::fail_every_question(bool fail)
{
    std::lock_guard lock(mutex_);
    fail_ = fail;
}

void PolkitStandIn::hold_answers(bool held)
{
    std::lock_guard lock(mutex_);
    held_ = held;
    changed_.notify_all();
}

std::vector<PolkitStandIn::Question> PolkitStandIn::questions() const
{
    std::lock_guard lock(mutex_);
    return questions_;
}

bool PolkitStandIn::wait_for_questions(std::size_t count)
{
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(60), [&] { return questions_.size() >= count; });
}

}  // namespace luo::test
