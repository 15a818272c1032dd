// SPDX-License-Identifier: Apache-2.0
// Every call luod makes to systemd's manager (org.freedesktop.systemd1), asynchronous on
// luod's event loop: no D-Bus handler of luod ever waits for PID 1. It uses a connection of
// its own (sd-bus, on the same system bus) and keeps what it learns:
//   - systemd's version, asked when luod starts and again whenever systemd1 gets a new owner
//     (a daemon-reexec, or a test's stand-in appearing late);
//   - below 261, whether a kexec stops luod's own unit (it conflicts with shutdown.target
//     unless units/extra/orderly-kexec.conf is installed), asked with the version;
//   - kexec.target jobs, started by luod (StartUnit, then JobRemoved says how it ended) or by
//     someone else (a plain `systemctl kexec`: JobNew), which luod is told about.
#pragma once

#include <systemd/sd-bus.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "update_records.h"

namespace luod {

class EventLoop;

class SystemdManager {
public:
    // Why a kexec job luod did not start appeared: its id, object path and unit.
    using ForeignJob = std::function<void(std::uint32_t id, const std::string& job)>;
    using Failure = std::function<void(const std::string& why)>;
    // How such a job ended: systemd's JobRemoved result ("done", "canceled", "failed", ...).
    using ForeignJobEnd = std::function<void(std::uint32_t id, const std::string& result)>;

    explicit SystemdManager(EventLoop& loop);
    ~SystemdManager();
    SystemdManager(const SystemdManager&) = delete;
    SystemdManager& operator=(const SystemdManager&) = delete;

    // Connects to the system bus and starts asking. Without a bus luod works on (the direct
    // strategy needs no systemd); the failure is logged.
    void start();

    enum class Known { asking, absent, present };
    [[nodiscard]] Known known() const { return known_; }
    // systemd's major version (e.g. 262 for "262.1-1"),
    // or 0 while not known. Not an optional: GCC reads an optional's value before its flag, and
    // valgrind then reports a jump on an uninitialised value wherever version is compared.
    [[nodiscard]] unsigned version() const { return version_; }
    // systemd's KExecCount and PreviousShutdown{Start,Finish}Timestamp (262 and later), once
    // it answered all three; `on_kexec_facts` hears of them then.
    [[nodiscard]] std::optional<luo::update::SystemdKexecFacts> kexec_facts() const { return kexec_facts_; }
    void on_kexec_facts(std::function<void()> handler) { kexec_facts_known_ = std::move(handler); }
    // Below 261: whether a kexec transaction stops luod's own unit (its Conflicts= has
    // shutdown.target), known with the version; nullopt when luod runs in no unit or systemd
    // did not say (the caller assumes it is stopped).
    [[nodiscard]] std::optional<bool> unit_stopped_by_kexec() const { return unit_stopped_by_kexec_; }
    [[nodiscard]] const std::string& own_unit() const { return own_unit_; }
    // "systemd 262.1-1", "no systemd on the bus", "systemd has not told its version yet".
    [[nodiscard]] std::string describe() const;
    // Calls `done` once luod knows whether systemd is there (at once if it knows already).
    void when_known(std::function<void()> done);

    // StartUnit(unit, mode); `failed` is called (once) if systemd refuses or the job ends
    // with another result than "done". The call returns at once.
    void start_unit(const std::string& unit, const std::string& mode, Failure failed);
    // Called for every kexec.target job luod did not start.
    void on_foreign_kexec_job(ForeignJob handler) { foreign_kexec_ = std::move(handler); }
    // Called when one of those jobs ends.
    void on_foreign_kexec_job_end(ForeignJobEnd handler) { foreign_kexec_end_ = std::move(handler); }

private:
    struct BusDeleter {
        void operator()(sd_bus* bus) const { sd_bus_flush_close_unref(bus); }
    };
    struct SlotDeleter {
        void operator()(sd_bus_slot* slot) const { sd_bus_slot_unref(slot); }
    };
    using Reply = std::function<void(sd_bus_message* reply, const sd_bus_error* error)>;

    // One asynchronous method call on the manager object; `append` adds the arguments.
    void call(const char* interface, const char* member, const std::function<int(sd_bus_message*)>& append,
              Reply done, const char* path = nullptr);
    void ask_version();
    void ask_kexec_facts();
    // Asks for luod's own unit's Conflicts=, then calls `done`.
    void ask_own_unit(std::uint64_t question, std::function<void()> done);
    void subscribe();
    void owner_changed(const std::string& new_owner);
    void job_new(std::uint32_t id, const std::string& job, const std::string& unit);
    void job_removed(const std::string& job, const std::string& result);
    void set_known(Known known);

    static int on_owner_changed(sd_bus_message* m, void* self, sd_bus_error*);
    static int on_job_new(sd_bus_message* m, void* self, sd_bus_error*);
    static int on_job_removed(sd_bus_message* m, void* self, sd_bus_error*);

    EventLoop& loop_;
    std::unique_ptr<sd_bus, BusDeleter> bus_;
    std::unique_ptr<sd_bus_slot, SlotDeleter> owner_match_, job_new_match_, job_removed_match_;
    Known known_ = Known::asking;
    unsigned version_ = 0;
    std::string version_text_;
    std::string own_unit_;
    std::optional<bool> unit_stopped_by_kexec_;
    std::optional<luo::update::SystemdKexecFacts> kexec_facts_;
    std::function<void()> kexec_facts_known_;
    // Only the answer to the latest version question counts (systemd1 may change owners
    // while one is in flight).
    std::uint64_t version_question_ = 0;
    // luod's own kexec job: asked for (no path yet) or started (its path), and who hears of its end.
    bool starting_own_job_ = false;
    std::string own_job_;
    Failure own_job_failed_;
    ForeignJob foreign_kexec_;
    ForeignJobEnd foreign_kexec_end_;
    std::map<std::string, std::uint32_t> foreign_jobs_;  // kexec.target jobs of others: path → id
    std::vector<std::function<void()>> known_waiters_;
};

}  // namespace luod
