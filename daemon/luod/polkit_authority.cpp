// SPDX-License-Identifier: Apache-2.0
#include "polkit_authority.h"

#include <spdlog/spdlog.h>

#include <cstring>

#include "event_loop.h"

namespace luod {

namespace {

constexpr const char* kService = "org.freedesktop.PolicyKit1";
constexpr const char* kPath = "/org/freedesktop/PolicyKit1/Authority";
constexpr const char* kInterface = "org.freedesktop.PolicyKit1.Authority";
// polkit answers at once for a non-interactive check; an authority that hangs costs the
// caller this long, never luod's loop.
constexpr std::uint64_t kCallTimeoutUsec = 25'000'000;

struct Question {
    std::string sender;
    std::string action;
    std::function<void(bool)> done;
};

void forget(void* userdata)
{
    std::unique_ptr<Question> owned(static_cast<Question*>(userdata));
}

// polkit's reply (bba{ss}): is_authorized, is_challenge, details.
int on_reply(sd_bus_message* reply, void* userdata, sd_bus_error*)
{
    auto& q = *static_cast<Question*>(userdata);
    bool allowed = false;
    try {
        if (const sd_bus_error* e = sd_bus_message_get_error(reply)) {
            // No polkit on the bus is an ordinary set-up (root only), not a fault.
            bool absent = sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER);
            if (absent)
                spdlog::debug("polkit is not on the bus: {} stays root's", q.action);
            else
                spdlog::warn("cannot ask polkit about {}: {} ({}); root only", q.action, e->message ? e->message : "",
                             e->name ? e->name : "?");
        } else {
            int authorized = 0, challenge = 0;
            int rc = sd_bus_message_enter_container(reply, SD_BUS_TYPE_STRUCT, "bba{ss}");
            if (rc >= 0)
                rc = sd_bus_message_read(reply, "bb", &authorized, &challenge);
            if (rc < 0)
                spdlog::warn("polkit's answer about {} is unreadable: {}; root only", q.action, std::strerror(-rc));
            else
                allowed = authorized != 0;
            // A grant is worth a line in the journal; refusals are the default, and any user can
            // cause many.
            if (allowed)
                spdlog::info("polkit allows {} to {}", q.action, q.sender);
            else
                spdlog::debug("polkit does not allow {} to {}{}", q.action, q.sender,
                              challenge ? " (it would need authentication, which luod does not ask for)" : "");
        }
        q.done(allowed);
    } catch (const std::exception& e) {
        // Nothing may unwind through sd-bus's C frames.
        spdlog::error("handling polkit's answer about {}: {}", q.action, e.what());
    }
    return 0;
}

}  // namespace

PolkitAuthority::PolkitAuthority(EventLoop& loop) : loop_(loop) {}

PolkitAuthority::~PolkitAuthority()
{
    stop();
}

void PolkitAuthority::start()
{
    sd_bus* raw = nullptr;
    int rc = sd_bus_open_system(&raw);
    if (rc >= 0) {
        bus_.reset(raw);
        rc = sd_bus_attach_event(bus_.get(), loop_.get(), SD_EVENT_PRIORITY_NORMAL);
    }
    if (rc < 0) {
        bus_.reset();
        spdlog::warn("cannot ask polkit: connecting to the system bus: {}; root-only members stay root's",
                     std::strerror(-rc));
    }
}

void PolkitAuthority::stop()
{
    bus_.reset();
}

void PolkitAuthority::check(const std::string& sender, const std::string& action, std::function<void(bool)> done)
{
    auto question = std::make_unique<Question>(Question{sender, action, std::move(done)});
    if (!bus_) {
        question->done(false);
        return;
    }
    sd_bus_message* raw = nullptr;
    int rc = sd_bus_message_new_method_call(bus_.get(), &raw, kService, kPath, kInterface, "CheckAuthorization");
    std::unique_ptr<sd_bus_message, decltype(&sd_bus_message_unref)> call(raw, sd_bus_message_unref);
    // The subject is the caller's connection: polkit itself finds its uid and process. No
    // details, no interaction (flags 0), no cancellation id.
    if (rc >= 0)
        rc = sd_bus_message_append(call.get(), "(sa{sv})s", "system-bus-name", 1, "name", "s", sender.c_str(),
                                   action.c_str());
    if (rc >= 0)
        rc = sd_bus_message_append(call.get(), "a{ss}us", 0, 0u, "");
    sd_bus_slot* slot = nullptr;
    if (rc >= 0)
        rc = sd_bus_call_async(bus_.get(), &slot, call.get(), on_reply, question.get(), kCallTimeoutUsec);
    if (rc < 0) {
        spdlog::warn("cannot ask polkit about {}: {}; root only", action, std::strerror(-rc));
        question->done(false);
        return;
    }
    // sd-bus owns the question from here and frees it with the slot (answered, or the
    // connection closed first).
    sd_bus_slot_set_destroy_callback(slot, forget);
    (void)question.release();
    sd_bus_slot_set_floating(slot, 1);
    sd_bus_slot_unref(slot);
}

}  // namespace luod
