// SPDX-License-Identifier: Apache-2.0
// A stand-in for polkit's authority on the test bus (org.freedesktop.PolicyKit1 at
// /org/freedesktop/PolicyKit1/Authority), doing only what luod uses: CheckAuthorization of a
// "system-bus-name" subject. It answers yes for the (uid, action) pairs it was told to allow and,
// like polkit for an action whose default is auth_admin, "no, but authentication would do"
// (is_challenge) for every other; it records every question.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace sdbus {
class IConnection;
class IObject;
}  // namespace sdbus

namespace luo::test {

class PolkitStandIn {
public:
    struct Question {
        std::string subject_kind;  // "system-bus-name"
        uid_t uid = 0;             // the subject's, as the bus tells it
        std::string action;
        std::uint32_t flags = 0;  // 1: AllowUserInteraction
    };

    explicit PolkitStandIn(const std::string& bus_address);
    ~PolkitStandIn();
    PolkitStandIn(const PolkitStandIn&) = delete;
    PolkitStandIn& operator=(const PolkitStandIn&) = delete;

    // What an administrator's rule would grant.
    void allow(uid_t uid, const std::string& action);
    // An authority that fails every question with a D-Bus error (a broken polkit).
    void fail_every_question(bool fail);
    // A slow authority: questions wait (recorded first) until released.
    void hold_answers(bool held);
    [[nodiscard]] std::vector<Question> questions() const;
    // Waits until `count` questions arrived in all; false after 60 s.
    bool wait_for_questions(std::size_t count);

private:
    std::unique_ptr<sdbus::IConnection> bus_;
    std::unique_ptr<sdbus::IConnection> lookup_;  // asks the bus who a subject is
    std::unique_ptr<sdbus::IObject> object_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::set<std::pair<uid_t, std::string>> allowed_;
    std::vector<Question> questions_;
    bool fail_ = false;
    bool held_ = false;
};

}  // namespace luo::test
