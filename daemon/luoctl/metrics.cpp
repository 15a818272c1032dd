// SPDX-License-Identifier: Apache-2.0
#include "metrics.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "exit_codes.h"
#include "luo/unique_fd.h"
#include "update_report.h"

namespace luo::ctl {

namespace {

// One metric: its # HELP and # TYPE lines, then samples added with sample().
class Exposition {
public:
    void metric(std::string_view name, std::string_view type, std::string_view help)
    {
        name_ = name;
        text_ += "# HELP ";
        text_ += name;
        text_ += ' ';
        text_ += help;  // fixed texts without backslash or newline: nothing to escape
        text_ += "\n# TYPE ";
        text_ += name;
        text_ += ' ';
        text_ += type;
        text_ += '\n';
    }

    void sample(std::string_view value) { sample("", "", value); }

    void sample(std::string_view label, std::string_view label_value, std::string_view value)
    {
        text_ += name_;
        if (!label.empty()) {
            text_ += '{';
            text_ += label;
            text_ += "=\"";
            text_ += escape_label_value(label_value);
            text_ += "\"}";
        }
        text_ += ' ';
        text_ += value;
        text_ += '\n';
    }

    // One series per known value, 1 for `current` and 0 for the others; a `current` outside the
    // known values gets a series of its own, after them.
    template <std::size_t N>
    void one_of(std::string_view label, const std::array<std::string_view, N>& known, const std::string& current)
    {
        bool listed = false;
        for (std::string_view value : known) {
            listed = listed || value == current;
            sample(label, value, value == current ? "1" : "0");
        }
        if (!listed && !current.empty())
            sample(label, current, "1");
    }

    const std::string& text() const { return text_; }

private:
    std::string name_;
    std::string text_;
};

std::string flag(bool value)
{
    return value ? "1" : "0";
}

Json optional_seconds(const std::optional<std::uint64_t>& count, double per_second)
{
    // Shortest round-tripping form when printed: 0.042, 1748779202.812.
    return count ? Json(static_cast<double>(*count) / per_second) : Json(nullptr);
}

CommandError write_error(const std::string& path, const std::string& step, int error)
{
    return CommandError("cannot write '" + path + "'", step + ": " + std::strerror(error), "", ExitCode::failure);
}

}  // namespace

Metrics metrics_from(const MetricsSnapshot& snapshot)
{
    Metrics metrics;
    metrics.up = true;
    metrics.live_updates_total = snapshot.status.live_update_count;
    metrics.sessions = snapshot.status.sessions;
    metrics.incoming_sessions = snapshot.status.incoming_sessions;
    metrics.files = snapshot.files;
    metrics.state = snapshot.status.state;
    metrics.kexec_loaded = snapshot.status.kexec_loaded;

    // A LastUpdate that is not a JSON object is luod's fault; the other metrics still count.
    auto parsed = update::parse_update_report(snapshot.last_update);
    if (!parsed || !*parsed)
        return metrics;
    const update::UpdateReport& report = **parsed;
    metrics.last_update_result = report.result_text;
    metrics.last_update_blackout_ms = report.blackout_ms;
    metrics.last_update_end_usec = report.end_usec();
    metrics.last_update_failed = report.result == update::Result::failed || report.result == update::Result::cancelled ||
                                 report.result == update::Result::sessions_lost;
    return metrics;
}

std::string metrics_text(const Metrics& metrics)
{
    Exposition out;
    out.metric("luod_up", "gauge", "Whether luod answered with its figures on the system bus (1) or not (0).");
    out.sample(flag(metrics.up));
    if (!metrics.up)
        return out.text();

    out.metric("luod_live_updates_total", "counter", "Live updates this host went through under luod.");
    out.sample(std::to_string(metrics.live_updates_total));
    out.metric("luod_sessions", "gauge", "Outgoing sessions luod holds, to be carried by the next update.");
    out.sample(std::to_string(metrics.sessions));
    out.metric("luod_incoming_sessions", "gauge",
               "Sessions carried by the last update and not yet finished or released.");
    out.sample(std::to_string(metrics.incoming_sessions));
    out.metric("luod_files", "gauge", "Files preserved in the sessions the caller may list (all for root).");
    out.sample(std::to_string(metrics.files));
    out.metric("luod_state", "gauge", "luod's state: 1 for the current one, 0 for the others.");
    out.one_of("state", kMetricStates, metrics.state);
    out.metric("luod_kexec_loaded", "gauge", "Whether a kernel is loaded for the next update.");
    out.sample(flag(metrics.kexec_loaded));
    if (metrics.last_update_blackout_ms) {
        out.metric("luod_last_update_blackout_seconds", "gauge",
                   "Blackout of the last live update, from the reboot call to luod's restore in the new kernel.");
        out.sample(decimal_seconds(*metrics.last_update_blackout_ms, 3));
    }
    if (metrics.last_update_end_usec) {
        out.metric("luod_last_update_timestamp_seconds", "gauge",
                   "When the last update attempt ended (restore ready, else its last phase), in Unix time.");
        out.sample(decimal_seconds(*metrics.last_update_end_usec, 6));
    }
    out.metric("luod_last_update_result", "gauge",
               "Result of the last update attempt: 1 for it, 0 for the others (all 0 before any).");
    out.one_of("result", kMetricResults, metrics.last_update_result);
    out.metric("luod_last_update_failed", "gauge", "Whether the last update attempt failed, was cancelled, or lost sessions.");
    out.sample(flag(metrics.last_update_failed));
    return out.text();
}

Json metrics_json(const Metrics& metrics)
{
    Json document = Json::object();
    document["up"] = metrics.up;
    if (!metrics.up)
        return document;
    document["live_updates_total"] = metrics.live_updates_total;
    document["sessions"] = metrics.sessions;
    document["incoming_sessions"] = metrics.incoming_sessions;
    document["files"] = metrics.files;
    document["state"] = metrics.state;
    document["kexec_loaded"] = metrics.kexec_loaded;
    document["last_update_result"] =
        metrics.last_update_result.empty() ? Json(nullptr) : Json(metrics.last_update_result);
    document["last_update_blackout_seconds"] = optional_seconds(metrics.last_update_blackout_ms, 1e3);
    document["last_update_timestamp_seconds"] = optional_seconds(metrics.last_update_end_usec, 1e6);
    document["last_update_failed"] = metrics.last_update_failed;
    return document;
}

std::string decimal_seconds(std::uint64_t count, int digits)
{
    std::uint64_t per_second = 1;
    for (int i = 0; i < digits; ++i)
        per_second *= 10;
    std::string text = std::to_string(count / per_second);
    std::string fraction = std::to_string(count % per_second);
    fraction.insert(0, static_cast<std::size_t>(digits) - fraction.size(), '0');
    while (!fraction.empty() && fraction.back() == '0')
        fraction.pop_back();
    if (!fraction.empty())
        text += '.' + fraction;
    return text;
}

std::string escape_label_value(std::string_view value)
{
    std::string escaped;
    escaped.reserve(value.size());
    for (char c : value) {
        if (c == '\\')
            escaped += "\\\\";
        else if (c == '"')
            escaped += "\\\"";
        else if (c == '\n')
            escaped += "\\n";
        else
            escaped += c;
    }
    return escaped;
}

void write_file_atomically(const std::string& path, std::string_view contents)
{
    const std::string temporary = path + ".tmp";
    UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd)
        throw write_error(path, "cannot create " + temporary, errno);
    auto fail = [&](const std::string& step) {
        int error = errno;
        fd.reset();
        ::unlink(temporary.c_str());
        return write_error(path, step, error);
    };
    // The umask must not hide the file from node_exporter's user.
    if (::fchmod(fd.get(), 0644) != 0)
        throw fail("fchmod " + temporary);
    for (std::size_t done = 0; done < contents.size();) {
        ssize_t written = ::write(fd.get(), contents.data() + done, contents.size() - done);
        if (written < 0 && errno == EINTR)
            continue;
        if (written < 0)
            throw fail("write " + temporary);
        done += static_cast<std::size_t>(written);
    }
    if (::close(fd.release()) != 0) {
        int error = errno;
        ::unlink(temporary.c_str());
        throw write_error(path, "close " + temporary, error);
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        int error = errno;
        ::unlink(temporary.c_str());
        throw write_error(path, "rename " + temporary, error);
    }
}

}  // namespace luo::ctl
