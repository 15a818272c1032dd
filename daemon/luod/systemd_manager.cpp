// SPDX-License-Identifier: Apache-2.0
#include "systemd_manager.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <systemd/sd-login.h>

#include "event_loop.h"

namespace luod {

namespace {

constexpr const char* kService = "org.freedesktop.systemd1";
constexpr const char* kPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";
// Starting a job only queues it; systemd answers at once unless it is busy.
constexpr std::uint64_t kCallTimeoutUsec = 25'000'000;

std::string error_text(const sd_bus_error* e)
{
    return std::string(e->message ? e->message : "") + " (" + (e->name ? e->name : "?") + ")";
}

// The call's userdata lives until sd-bus destroys its slot (after the reply, or when the
// connection closes first).
void destroy_reply(void* userdata)
{
    std::unique_ptr<std::function<void(sd_bus_message*, const sd_bus_error*)>> owned(
        static_cast<std::function<void(sd_bus_message*, const sd_bus_error*)>*>(userdata));
}

// Nothing may unwind through sd-bus's C frames: every callback ends here.
template <typename F>
int guarded(const char* what, F&& body)
{
    try {
        body();
    } catch (const std::exception& e) {
        spdlog::error("handling systemd's {}: {}", what, e.what());
    }
    return 0;
}

int on_reply(sd_bus_message* m, void* userdata, sd_bus_error*)
{
    auto& done = *static_cast<std::function<void(sd_bus_message*, const sd_bus_error*)>*>(userdata);
    return guarded("reply", [&] { done(m, sd_bus_message_get_error(m)); });
}

}  // namespace

SystemdManager::SystemdManager(EventLoop& loop) : loop_(loop) {}

SystemdManager::~SystemdManager()
{
    // The matches and pending calls point here: they go with the connection, first.
    owner_match_.reset();
    job_new_match_.reset();
    job_removed_match_.reset();
    bus_.reset();
}

void SystemdManager::start()
{
    sd_bus* raw = nullptr;
    int rc = sd_bus_open_system(&raw);
    if (rc >= 0) {
        bus_.reset(raw);
        rc = sd_bus_attach_event(bus_.get(), loop_.get(), SD_EVENT_PRIORITY_NORMAL);
    }
    if (rc < 0) {
        bus_.reset();
        set_known(Known::absent);
        spdlog::warn("cannot reach systemd: connecting to the system bus: {}", std::strerror(-rc));
        return;
    }
    // The match first: the bus handles a connection's messages in order, so an owner that
    // appears after the version question failed is seen.
    sd_bus_slot* slot = nullptr;
    std::string owner = std::string("type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                    "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='") +
                        kService + "'";
    if (sd_bus_add_match_async(bus_.get(), &slot, owner.c_str(), on_owner_changed, nullptr, this) >= 0)
        owner_match_.reset(slot);
    if (sd_bus_match_signal_async(bus_.get(), &slot, kService, kPath, kManager, "JobNew", on_job_new, nullptr, this) >= 0)
        job_new_match_.reset(slot);
    if (sd_bus_match_signal_async(bus_.get(), &slot, kService, kPath, kManager, "JobRemoved", on_job_removed, nullptr,
                                  this) >= 0)
        job_removed_match_.reset(slot);
    ask_version();
    subscribe();
}

void SystemdManager::when_known(std::function<void()> done)
{
    if (known_ != Known::asking)
        done();
    else
        known_waiters_.push_back(std::move(done));
}

void SystemdManager::set_known(Known known)
{
    known_ = known;
    if (known == Known::asking)
        return;
    std::vector<std::function<void()>> waiters;
    waiters.swap(known_waiters_);
    for (auto& done : waiters)
        done();
}

std::string SystemdManager::describe() const
{
    switch (known_) {
    case Known::asking:
        return "systemd has not told its version yet";
    case Known::absent:
        return "no systemd on the bus";
    case Known::present:
        break;
    }
    return "systemd " + version_text_;
}

void SystemdManager::call(const char* interface, const char* member,
                          const std::function<int(sd_bus_message*)>& append, Reply done, const char* path)
{
    if (!bus_) {
        sd_bus_error e = SD_BUS_ERROR_MAKE_CONST(SD_BUS_ERROR_NO_SERVER, "luod has no system bus connection");
        done(nullptr, &e);
        return;
    }
    sd_bus_message* raw = nullptr;
    int rc = sd_bus_message_new_method_call(bus_.get(), &raw, kService, path ? path : kPath, interface, member);
    std::unique_ptr<sd_bus_message, decltype(&sd_bus_message_unref)> message(raw, sd_bus_message_unref);
    if (rc >= 0)
        rc = append(message.get());
    auto userdata = std::make_unique<Reply>(std::move(done));
    sd_bus_slot* slot = nullptr;
    if (rc >= 0)
        rc = sd_bus_call_async(bus_.get(), &slot, message.get(), on_reply, userdata.get(), kCallTimeoutUsec);
    if (rc < 0) {
        sd_bus_error e = SD_BUS_ERROR_MAKE_CONST(SD_BUS_ERROR_FAILED, "could not send the call");
        (*userdata)(nullptr, &e);
        return;
    }
    // sd-bus owns the call from here and frees the userdata with the slot.
    sd_bus_slot_set_destroy_callback(slot, destroy_reply);
    (void)userdata.release();
    sd_bus_slot_set_floating(slot, 1);
    sd_bus_slot_unref(slot);
}

void SystemdManager::ask_version()
{
    known_ = Known::asking;
    std::uint64_t question = ++version_question_;
    call(
        "org.freedesktop.DBus.Properties", "Get",
        [](sd_bus_message* m) { return sd_bus_message_append(m, "ss", kManager, "Version"); },
        [this, question](sd_bus_message* reply, const sd_bus_error* error) {
            if (question != version_question_)
                return;  // a newer owner was asked since
            const char* text = nullptr;
            if (error || sd_bus_message_read(reply, "v", "s", &text) < 0 || !text) {
                version_ = 0;
                spdlog::info("no systemd on the bus{}", error ? ": " + error_text(error) : "");
                set_known(Known::absent);
                return;
            }
            version_text_ = text;
            const char* digits = text;
            while (*digits && (*digits < '0' || *digits > '9'))
                ++digits;
            version_ = static_cast<unsigned>(std::strtoul(digits, nullptr, 10));
            spdlog::info("systemd {} on the bus: it {} carry LUO sessions in fd stores", version_text_,
                         version_ >= 261 ? "can" : "cannot");
            if (version_ >= 262)
                ask_kexec_facts();
            if (version_ >= 261) {
                set_known(Known::present);
                return;
            }
            ask_own_unit(question, [this] { set_known(Known::present); });
        });
}

void SystemdManager::ask_own_unit(std::uint64_t question, std::function<void()> done)
{
    unit_stopped_by_kexec_.reset();
    own_unit_.clear();
    char* unit = nullptr;
    if (::sd_pid_get_unit(0, &unit) < 0 || !unit) {
        done();
        return;
    }
    own_unit_ = unit;
    std::free(unit);
    char* path = nullptr;
    if (::sd_bus_path_encode("/org/freedesktop/systemd1/unit", own_unit_.c_str(), &path) < 0) {
        done();
        return;
    }
    std::unique_ptr<char, decltype(&std::free)> owned_path(path, std::free);
    call(
        "org.freedesktop.DBus.Properties", "Get",
        [](sd_bus_message* m) { return sd_bus_message_append(m, "ss", "org.freedesktop.systemd1.Unit", "Conflicts"); },
        [this, question, done = std::move(done)](sd_bus_message* reply, const sd_bus_error* error) {
            if (question != version_question_)
                return;
            char** conflicts = nullptr;
            if (error || sd_bus_message_enter_container(reply, 'v', "as") < 0 ||
                sd_bus_message_read_strv(reply, &conflicts) < 0) {
                spdlog::info("systemd did not tell {}'s Conflicts={}", own_unit_, error ? ": " + error_text(error) : "");
                done();
                return;
            }
            bool stopped = false;
            for (char** c = conflicts; c && *c; ++c) {
                stopped = stopped || std::strcmp(*c, "shutdown.target") == 0;
                std::free(*c);
            }
            std::free(conflicts);
            unit_stopped_by_kexec_ = stopped;
            if (stopped)
                spdlog::info("a kexec stops {} (Conflicts=shutdown.target): on systemd {} only the direct strategy "
                             "carries luod's sessions; units/extra/orderly-kexec.conf lets it survive the kexec",
                             own_unit_, version_text_);
            else
                spdlog::info("a kexec does not stop {}: luod can survive systemd {}'s kexec (orderly strategy)",
                             own_unit_, version_text_);
            done();
        },
        owned_path.get());
}

void SystemdManager::ask_kexec_facts()
{
    // systemd's own count of kexecs it carried state across (262) and the previous boot's
    // shutdown, for luod's report next to its own count: they differ when a kexec carried
    // nothing of systemd's, or was not luod's. Three Gets, one after the other.
    auto facts = std::make_shared<luo::update::SystemdKexecFacts>();
    auto get_timestamp = [this, facts](const char* property, std::uint64_t luo::update::SystemdKexecFacts::*field,
                                       std::function<void()> next) {
        call(
            "org.freedesktop.DBus.Properties", "Get",
            [property](sd_bus_message* m) { return sd_bus_message_append(m, "ss", kManager, property); },
            [facts, field, next = std::move(next)](sd_bus_message* reply, const sd_bus_error* error) {
                std::uint64_t usec = 0;
                if (error || sd_bus_message_read(reply, "v", "t", &usec) < 0)
                    return;
                (*facts).*field = usec;
                next();
            });
    };
    auto done = [this, facts] {
        kexec_facts_ = *facts;
        spdlog::info("systemd counts {} kexec{} since the last cold boot (KExecCount)", facts->kexec_count,
                     facts->kexec_count == 1 ? "" : "s");
        if (kexec_facts_known_)
            kexec_facts_known_();
    };
    call(
        "org.freedesktop.DBus.Properties", "Get",
        [](sd_bus_message* m) { return sd_bus_message_append(m, "ss", kManager, "KExecCount"); },
        [facts, get_timestamp, done](sd_bus_message* reply, const sd_bus_error* error) {
            if (error || sd_bus_message_read(reply, "v", "u", &facts->kexec_count) < 0)
                return;
            get_timestamp("PreviousShutdownStartTimestamp",
                          &luo::update::SystemdKexecFacts::previous_shutdown_start_usec, [get_timestamp, done] {
                              get_timestamp("PreviousShutdownFinishTimestamp",
                                            &luo::update::SystemdKexecFacts::previous_shutdown_finish_usec, done);
                          });
        });
}

void SystemdManager::subscribe()
{
    // systemd sends job signals only while some client is subscribed.
    call(
        kManager, "Subscribe", [](sd_bus_message*) { return 0; },
        [](sd_bus_message*, const sd_bus_error* error) {
            if (error)
                spdlog::debug("Subscribe to systemd: {}", error_text(error));
        });
}

void SystemdManager::owner_changed(const std::string& new_owner)
{
    if (new_owner.empty()) {
        version_ = 0;
        set_known(Known::absent);
        return;
    }
    ask_version();
    subscribe();
}

void SystemdManager::start_unit(const std::string& unit, const std::string& mode, Failure failed)
{
    starting_own_job_ = true;
    own_job_.clear();
    own_job_failed_ = std::move(failed);
    call(
        kManager, "StartUnit",
        [&](sd_bus_message* m) { return sd_bus_message_append(m, "ss", unit.c_str(), mode.c_str()); },
        [this, unit](sd_bus_message* reply, const sd_bus_error* error) {
            starting_own_job_ = false;
            const char* job = nullptr;
            if (error || sd_bus_message_read(reply, "o", &job) < 0 || !job) {
                Failure tell = std::move(own_job_failed_);
                own_job_failed_ = nullptr;
                if (tell)
                    tell("systemd refused to start " + unit + ": " + (error ? error_text(error) : "no job"));
                return;
            }
            own_job_ = job;
            spdlog::info("systemd started {} (job {}): it carries the sessions", unit, own_job_);
        });
}

void SystemdManager::job_new(std::uint32_t id, const std::string& job, const std::string& unit)
{
    if (unit != "kexec.target")
        return;
    if (starting_own_job_ || job == own_job_) {
        own_job_ = job;  // systemd may announce the job before it answers StartUnit
        return;
    }
    foreign_jobs_[job] = id;
    if (known_ == Known::asking) {
        // A new systemd1 owner (a daemon-reexec, or one that appeared after luod) announces
        // a job before it has answered luod's version question: what luod does with the job
        // depends on the answer. The answer comes on this connection soon; the job waits.
        spdlog::info("kexec.target job {} waits for systemd's version", id);
        when_known([this, id, job] {
            if (foreign_kexec_)
                foreign_kexec_(id, job);
        });
        return;
    }
    if (foreign_kexec_)
        foreign_kexec_(id, job);
}

void SystemdManager::job_removed(const std::string& job, const std::string& result)
{
    if (auto it = foreign_jobs_.find(job); it != foreign_jobs_.end()) {
        std::uint32_t id = it->second;
        foreign_jobs_.erase(it);
        if (foreign_kexec_end_)
            foreign_kexec_end_(id, result);
        return;
    }
    if (job.empty() || job != own_job_)
        return;
    own_job_.clear();
    Failure failed = std::move(own_job_failed_);
    own_job_failed_ = nullptr;
    if (result != "done" && failed)
        failed("systemd's kexec job ended with result '" + result + "'");
}

int SystemdManager::on_owner_changed(sd_bus_message* m, void* self, sd_bus_error*)
{
    const char *name = nullptr, *old_owner = nullptr, *new_owner = nullptr;
    if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !new_owner)
        return 0;
    return guarded("NameOwnerChanged", [&] { static_cast<SystemdManager*>(self)->owner_changed(new_owner); });
}

int SystemdManager::on_job_new(sd_bus_message* m, void* self, sd_bus_error*)
{
    std::uint32_t id = 0;
    const char *job = nullptr, *unit = nullptr;
    if (sd_bus_message_read(m, "uos", &id, &job, &unit) < 0 || !job || !unit)
        return 0;
    return guarded("JobNew", [&] { static_cast<SystemdManager*>(self)->job_new(id, job, unit); });
}

int SystemdManager::on_job_removed(sd_bus_message* m, void* self, sd_bus_error*)
{
    std::uint32_t id = 0;
    const char *job = nullptr, *unit = nullptr, *result = nullptr;
    if (sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) < 0 || !job || !result)
        return 0;
    return guarded("JobRemoved", [&] { static_cast<SystemdManager*>(self)->job_removed(job, result); });
}

}  // namespace luod
