// SPDX-License-Identifier: Apache-2.0
// A feedback-driven D-Bus fuzzer against a real luod, as several callers at once: root and
// unprivileged uids, each in its own process with its own bus connection, send method calls
// built from scratch with sd-bus (any path, interface, member and argument signature, any
// values: names of their own, of each other and of root's sessions, huge and control-character
// strings, every kind of fd) and check every answer:
//   - an answer comes (no wedge) and luod stays on the bus;
//   - an error is one the API documents or sd-bus itself gives, with a bounded message;
//   - an unprivileged caller's answer names no other owner's session or label it did not send
//     itself, and no call on another owner's session object (its path given to the caller as
//     if it had leaked) does anything but fail as for an absent object (or, from sd-bus, say
//     the object exists: Introspect, Peer, a signature refused; docs/architecture.md).
// Feedback: each call is a seed (path, interface, member, signature, value seed); a call whose
// member, kind of signature (documented or not) and target (luod's manager, its own session,
// another's, elsewhere), and answer (the error text without quoted parts and numbers: luod's
// code paths show in it) were not seen before joins the caller's corpus; half of the later
// calls mutate corpus entries, the other half are well-formed calls with new values. Then, as root: luod serves, root's sessions and data are as they
// were, and luod holds no fd more than before once the callers' sessions are closed.
//
// Bounded by a count of calls; each caller's sequence follows from the seed (their
// interleaving does not) (LUOD_DBUS_FUZZ_CALLS per caller, default
// 1000; LUOD_DBUS_FUZZ_SEED replays a run).
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "luo_catch.h"
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fixture.h"
#include "luo/dbus_api.h"

using namespace luo;
using namespace luo::test;

namespace {

constexpr int kUnprivilegedCallers = 3;
constexpr std::size_t kMaxErrorMessage = 4096;
const char* const kLogControlPath = "/org/freedesktop/LogControl1";

std::uint32_t env_number(const char* name, std::uint32_t fallback)
{
    const char* v = std::getenv(name);
    return v && *v ? static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10)) : fallback;
}

// Root's sessions, which no caller may learn of or touch, and what they hold.
const std::vector<std::string> kSecretSessions{"vm-secret-alpha", "vm-secret-beta"};
const char* const kSecretLabel = "label-secret-omega";
std::string secret_content(const std::string& session) { return "root's bytes of " + session; }

// Names a caller uses for its own sessions: "fz<index>-<n>".
std::string own_name(int index, unsigned n) { return "fz" + std::to_string(index) + "-" + std::to_string(n); }

// What the documentation says a call may answer: luod's errors and those sd-bus or the bus give.
const std::set<std::string> kDocumentedErrors{
    dbus::error::kNoSuchSession,        dbus::error::kSessionExists,     dbus::error::kNameReserved,
    dbus::error::kQuotaExceeded,        dbus::error::kNoSuchFile,        dbus::error::kLabelExists,
    dbus::error::kUnsupportedFile,      dbus::error::kFileAlreadyPreserved, dbus::error::kInvalidState,
    dbus::error::kDeviceUnavailable,    dbus::error::kKernelError,       dbus::error::kUpdateInProgress,
    dbus::error::kChecksFailed,         dbus::error::kNotLoaded,         dbus::error::kBlockedByInhibitor,
    dbus::error::kInvalidArgs,          dbus::error::kAccessDenied,      dbus::error::kNotSupported,
    dbus::error::kLimitsExceeded,       "org.freedesktop.DBus.Error.UnknownMethod",
    "org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.DBus.Error.UnknownInterface",
    "org.freedesktop.DBus.Error.UnknownProperty", "org.freedesktop.DBus.Error.PropertyReadOnly",
    "org.freedesktop.DBus.Error.InconsistentMessage",
};
// What sd-bus says of an object it has, whoever asks: that it exists (the residual of
// docs/architecture.md), never what it holds.
const std::set<std::string> kExistenceOnly{"org.freedesktop.DBus.Error.UnknownObject",
                                           "org.freedesktop.DBus.Error.InvalidArgs",
                                           "org.freedesktop.DBus.Error.UnknownMethod",
                                           "org.freedesktop.DBus.Error.UnknownInterface",
                                           "org.freedesktop.DBus.Error.UnknownProperty",
                                           "org.freedesktop.DBus.Error.PropertyReadOnly",
                                           "org.freedesktop.DBus.Error.AccessDenied"};

const std::vector<std::pair<std::string, std::string>> kMembers{
    // interface, member: luod's API, the standard interfaces, and a few that do not exist.
    {dbus::kManagerInterface, "CreateSession"},   {dbus::kManagerInterface, "GetSession"},
    {dbus::kManagerInterface, "ListSessions"},    {dbus::kManagerInterface, "RetrieveSession"},
    {dbus::kManagerInterface, "Inhibit"},         {dbus::kManagerInterface, "LoadKernel"},
    {dbus::kManagerInterface, "UnloadKernel"},    {dbus::kManagerInterface, "ListInhibitors"},
    {dbus::kManagerInterface, "Check"},           {dbus::kManagerInterface, "Update"},
    {dbus::kManagerInterface, "Cancel"},          {dbus::kManagerInterface, "Nope"},
    {dbus::kSessionInterface, "PreserveFd"},      {dbus::kSessionInterface, "PreserveFds"},
    {dbus::kSessionInterface, "RetrieveFd"},      {dbus::kSessionInterface, "AcquireFd"},
    {dbus::kSessionInterface, "Finish"},          {dbus::kSessionInterface, "Close"},
    {"org.freedesktop.DBus.Properties", "Get"},   {"org.freedesktop.DBus.Properties", "GetAll"},
    {"org.freedesktop.DBus.Properties", "Set"},   {"org.freedesktop.DBus.Introspectable", "Introspect"},
    {"org.freedesktop.DBus.Peer", "Ping"},        {"org.freedesktop.LogControl1", "Nope"},
    {"org.luod.Nope", "CreateSession"},
};
// The documented signature of each member (index as kMembers), the fuzzer's starting point.
const std::vector<std::string> kSignatures{"sa{sv}", "s", "", "s", "ssss", "sssa{sv}", "", "", "", "a{sv}", "", "",
                                           "hs",     "a(hs)", "s", "", "", "", "ss", "s", "ssv", "", "", "", "sa{sv}"};
// Members root leaves alone: they would change the machine under the test (an update, the
// kernel it loaded, luod's log it reads at the end).
bool root_leaves_alone(const std::string& member)
{
    return member == "Update" || member == "LoadKernel" || member == "UnloadKernel" || member == "Cancel" ||
           member == "Set";
}

const std::vector<std::string> kStrings{
    "", "State", "Sessions", "Files", "OwnerUID", "Name", "LogLevel", "LogTarget", "debug", "OwnerUnit",
    "OwnerUID", "DryRun", "Force", "DelayTimeoutUSec", "Strategy", "ReuseCmdline", "delay", "block", "root",
    "org.luod.LiveUpdate1.Manager", "org.luod.LiveUpdate1.Session", "org.freedesktop.LogControl1", "x.service",
    "luod", "luod.probe", "-", "a/b", "..", "\x1b[31mred", "tab\there", "line\nforged", "/etc/passwd",
    "/proc/self/fd/0", "\xc3\xa9t\xc3\xa9",
};

// One call: where, what, with which signature, and the seed of its values.
struct Call {
    int path = 0;        // index into the caller's paths
    int member = 0;      // index into kMembers
    std::string signature;
    std::uint64_t values = 0;
};

class Caller {
public:
    Caller(const std::string& address, int index, uid_t uid, std::uint32_t seed, std::vector<std::string> leaked_paths,
           std::vector<std::string> secrets)
        : index_(index), uid_(uid), rng_(seed), leaked_(std::move(leaked_paths)), secrets_(std::move(secrets))
    {
        sd_bus* bus = nullptr;
        if (sd_bus_new(&bus) < 0)
            throw std::runtime_error("sd_bus_new");
        bus_.reset(bus);
        sd_bus_set_address(bus, address.c_str());
        sd_bus_set_bus_client(bus, 1);
        sd_bus_negotiate_fds(bus, 1);
        if (int r = sd_bus_start(bus); r < 0)
            throw std::runtime_error(std::string("sd_bus_start: ") + std::strerror(-r));
    }

    // Runs `calls` calls; returns the violations ("" when none).
    std::string run(unsigned calls)
    {
        for (std::size_t m = 0; m < kMembers.size(); ++m)
            corpus_.push_back(Call{0, static_cast<int>(m), kSignatures[m], rng_()});
        for (unsigned i = 0; i < calls; ++i) {
            Call c = next_call();
            if (!uid_ && root_leaves_alone(kMembers[static_cast<std::size_t>(c.member)].second))
                continue;
            execute(c);
        }
        return violations_;
    }

    [[nodiscard]] std::size_t corpus_size() const { return corpus_.size(); }
    [[nodiscard]] std::size_t outcomes() const { return seen_.size(); }
    [[nodiscard]] unsigned executed() const { return executed_; }

private:
    struct BusUnref {
        void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
    };
    struct MessageUnref {
        void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
    };
    using Message = std::unique_ptr<sd_bus_message, MessageUnref>;

    std::size_t roll(std::size_t n) { return n ? static_cast<std::size_t>(rng_() % n) : 0; }

    std::vector<std::string> paths() const
    {
        std::vector<std::string> p{dbus::kManagerPath, dbus::kSessionPathPrefix, kLogControlPath, "/",
                                   std::string(dbus::kSessionPathPrefix) + "/s0000000000000000"};
        p.insert(p.end(), own_paths_.begin(), own_paths_.end());
        p.insert(p.end(), leaked_.begin(), leaked_.end());
        return p;
    }

    // Mostly where the member lives (so calls get past sd-bus into luod), else anywhere.
    int pick_path(const std::string& interface)
    {
        auto all = paths();
        auto index_of = [&](const std::string& p) {
            return static_cast<int>(std::find(all.begin(), all.end(), p) - all.begin());
        };
        if (roll(10) < 7) {
            if (interface == dbus::kManagerInterface)
                return index_of(dbus::kManagerPath);
            if (interface == dbus::kSessionInterface || interface == "org.freedesktop.DBus.Properties") {
                if (!own_paths_.empty() && roll(4) != 0)
                    return index_of(own_paths_[roll(own_paths_.size())]);
                if (!leaked_.empty() && roll(2) != 0)
                    return index_of(leaked_[roll(leaked_.size())]);
                return roll(2) ? index_of(dbus::kManagerPath) : index_of(kLogControlPath);
            }
        }
        return static_cast<int>(roll(all.size()));
    }

    Call next_call()
    {
        Call c = corpus_[roll(corpus_.size())];
        c.values = rng_();
        if (roll(2) == 0) {  // half the calls well-formed: a member, its signature, new values
            c.member = static_cast<int>(roll(kMembers.size()));
            if (kMembers[static_cast<std::size_t>(c.member)].second == "Close")  // half as often: sessions live on
                c.member = static_cast<int>(roll(kMembers.size()));
            c.signature = kSignatures[static_cast<std::size_t>(c.member)];
            c.path = pick_path(kMembers[static_cast<std::size_t>(c.member)].first);
            return c;
        }
        switch (roll(6)) {
        case 0:
            c.member = static_cast<int>(roll(kMembers.size()));
            c.signature = kSignatures[static_cast<std::size_t>(c.member)];
            break;
        case 1:
            c.signature = random_signature(1 + roll(4), 0);
            break;
        case 2:  // one complete type more, or one less
            if (!c.signature.empty() && roll(2))
                c.signature.pop_back();  // may break it: sd-bus then refuses to build it
            else
                c.signature += random_signature(1, 1);
            break;
        default:
            break;
        }
        c.path = pick_path(kMembers[static_cast<std::size_t>(c.member)].first);
        return c;
    }

    std::string random_signature(std::size_t types, int depth)
    {
        static const char basics[] = "ybnqiuxtdsogh";
        std::string s;
        for (std::size_t i = 0; i < types; ++i) {
            std::size_t pick = roll(depth >= 2 ? 2 : 6);
            if (pick <= 1)
                s += basics[roll(sizeof basics - 1)];
            else if (pick == 2)
                s += "a" + random_signature(1, depth + 1);
            else if (pick == 3)
                s += "(" + random_signature(1 + roll(3), depth + 1) + ")";
            else if (pick == 4)
                s += "v";
            else
                s += std::string("a{") + basics[roll(sizeof basics - 1)] + random_signature(1, depth + 1) + "}";
        }
        return s;
    }

    // The end of the complete type starting at `at`, or npos when it is not one.
    static std::size_t complete_type_end(const std::string& sig, std::size_t at)
    {
        if (at >= sig.size())
            return std::string::npos;
        char c = sig[at];
        if (std::strchr("ybnqiuxtdsoghv", c))
            return at + 1;
        if (c == 'a')
            return complete_type_end(sig, at + 1);
        if (c == '(' || c == '{') {
            char close = c == '(' ? ')' : '}';
            std::size_t i = at + 1;
            while (i < sig.size() && sig[i] != close) {
                i = complete_type_end(sig, i);
                if (i == std::string::npos)
                    return i;
            }
            return i < sig.size() ? i + 1 : std::string::npos;
        }
        return std::string::npos;
    }

    std::string pick_string(std::mt19937_64& v)
    {
        switch (v() % 10) {
        case 0:
        case 1:
        case 2:
            return own_name(index_, static_cast<unsigned>(v() % 6));
        case 3:
            return secrets_.empty() ? std::string() : secrets_[v() % secrets_.size()];
        case 4:
            return std::string(1 + v() % (96 << 10), static_cast<char>(1 + v() % 31));
        case 5:
            return std::string(200 + v() % 400, 'n');
        case 6:
        case 7:
            return "f" + std::to_string(v() % 4);
        default:
            return kStrings[v() % kStrings.size()];
        }
    }

    // An fd of any kind a caller may have (the reply's copy is sd-bus's; these close at once).
    UniqueFd pick_fd(std::mt19937_64& v)
    {
        switch (v() % 8) {
        case 0:
        case 1: {
            UniqueFd m = make_memfd("fuzz", "fuzz data");
            return m;
        }
        case 2: {
            UniqueFd m = make_memfd("fuzz", "x");
            std::string proc = "/proc/self/fd/" + std::to_string(m.get());
            return UniqueFd(::open(proc.c_str(), O_RDONLY | O_CLOEXEC));
        }
        case 3:
            return UniqueFd(::open("/etc/passwd", O_PATH | O_CLOEXEC));
        case 4:
            return UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
        case 5: {
            int p[2];
            if (::pipe2(p, O_CLOEXEC) < 0)
                return {};
            ::close(p[1]);
            return UniqueFd(p[0]);
        }
        case 6:
            return UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        default:
            return UniqueFd(::eventfd(0, EFD_CLOEXEC));
        }
    }

    // Appends values of the complete types in sig[at, end); false when sd-bus refuses (an
    // invalid signature or value: nothing is sent).
    bool append(sd_bus_message* m, const std::string& sig, std::size_t at, std::size_t end, std::mt19937_64& v,
                std::string& sent, int& fds)
    {
        while (at < end) {
            std::size_t next = complete_type_end(sig, at);
            if (next == std::string::npos || next > end)
                return false;
            char c = sig[at];
            int r = 0;
            switch (c) {
            case 'y': {
                std::uint8_t x = static_cast<std::uint8_t>(v());
                r = sd_bus_message_append_basic(m, c, &x);
                break;
            }
            case 'b': {
                int x = static_cast<int>(v() % 2);
                r = sd_bus_message_append_basic(m, c, &x);
                break;
            }
            case 'n':
            case 'q': {
                std::uint16_t x = static_cast<std::uint16_t>(v() % 3 == 0 ? 0xffff : v());
                r = sd_bus_message_append_basic(m, c, &x);
                break;
            }
            case 'i':
            case 'u': {
                static const std::uint32_t edges[] = {0, 1, 65534, 0x7fffffff, 0xffffffff};
                std::uint32_t x = v() % 2 ? edges[v() % 5] : static_cast<std::uint32_t>(v());
                r = sd_bus_message_append_basic(m, c, &x);
                break;
            }
            case 'x':
            case 't': {
                static const std::uint64_t edges[] = {0, 1, 500000, 86400000000ULL, ~0ULL};
                std::uint64_t x = v() % 2 ? edges[v() % 5] : v();
                r = sd_bus_message_append_basic(m, c, &x);
                break;
            }
            case 'd': {
                double x = static_cast<double>(v() % 1000) / 3.0;
                r = sd_bus_message_append_basic(m, c, &x);
                break;
            }
            case 's': {
                std::string s = pick_string(v);
                sent += s + '\n';
                r = sd_bus_message_append_basic(m, c, s.c_str());
                break;
            }
            case 'o': {
                auto p = paths();
                std::string s = p[v() % p.size()];
                sent += s + '\n';
                r = sd_bus_message_append_basic(m, c, s.c_str());
                break;
            }
            case 'g': {
                std::string s = kSignatures[v() % kSignatures.size()];
                r = sd_bus_message_append_basic(m, c, s.c_str());
                break;
            }
            case 'h': {
                if (fds >= 16)  // the bus's limit per message (a client over it is cut off)
                    return false;
                UniqueFd fd = pick_fd(v);
                int raw = fd.get();
                ++fds;
                r = sd_bus_message_append_basic(m, c, &raw);  // sd-bus keeps a copy
                break;
            }
            case 'v': {
                std::string inner = kSignatures[v() % kSignatures.size()].substr(0, 1);
                if (inner.empty() || complete_type_end(inner, 0) != 1)
                    inner = std::string(1, "sutbx"[v() % 5]);
                r = sd_bus_message_open_container(m, 'v', inner.c_str());
                if (r >= 0 && !append(m, inner, 0, inner.size(), v, sent, fds))
                    return false;
                if (r >= 0)
                    r = sd_bus_message_close_container(m);
                break;
            }
            case 'a': {
                std::string element = sig.substr(at + 1, next - at - 1);
                r = sd_bus_message_open_container(m, 'a', element.c_str());
                std::size_t n = v() % 3;
                if (element == "(hs)" || element == "h")
                    n = v() % 18;
                for (std::size_t i = 0; r >= 0 && i < n; ++i) {
                    if (element[0] == '{') {
                        r = sd_bus_message_open_container(m, 'e', element.substr(1, element.size() - 2).c_str());
                        if (r >= 0 && !append(m, element, 1, element.size() - 1, v, sent, fds))
                            return false;
                        if (r >= 0)
                            r = sd_bus_message_close_container(m);
                    } else if (!append(m, element, 0, element.size(), v, sent, fds)) {
                        return false;
                    }
                }
                if (r >= 0)
                    r = sd_bus_message_close_container(m);
                break;
            }
            case '(': {
                std::string contents = sig.substr(at + 1, next - at - 2);
                r = sd_bus_message_open_container(m, 'r', contents.c_str());
                if (r >= 0 && !append(m, sig, at + 1, next - 1, v, sent, fds))
                    return false;
                if (r >= 0)
                    r = sd_bus_message_close_container(m);
                break;
            }
            default:
                return false;  // a dict entry outside an array
            }
            if (r < 0)
                return false;
            at = next;
        }
        return true;
    }

    // An error text without what varies with the input: quoted parts and digits.
    static std::string text_shape(const std::string& text)
    {
        std::string out;
        bool quoted = false;
        for (char ch : text.substr(0, 400)) {
            if (ch == '\'')
                quoted = !quoted;
            else if (!quoted && !std::isdigit(static_cast<unsigned char>(ch)))
                out += ch;
        }
        return out.substr(0, 80);
    }

    void violation(const std::string& what)
    {
        if (violations_.size() < 8000)
            violations_ += what + "; ";
    }

    void execute(const Call& c)
    {
        const auto& [interface, member] = kMembers[static_cast<std::size_t>(c.member)];
        auto all_paths = paths();
        const std::string& path = all_paths[static_cast<std::size_t>(c.path) % all_paths.size()];
        sd_bus_message* raw = nullptr;
        if (sd_bus_message_new_method_call(bus_.get(), &raw, dbus::kBusName, path.c_str(), interface.c_str(),
                                           member.c_str()) < 0)
            return;
        Message call(raw);
        std::mt19937_64 v(c.values);
        std::string sent;
        int fds = 0;
        if (!append(call.get(), c.signature, 0, c.signature.size(), v, sent, fds))
            return;  // sd-bus refused to build it: nothing reaches luod
        ++executed_;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message* reply_raw = nullptr;
        int r = sd_bus_call(bus_.get(), call.get(), 30 * 1000 * 1000, &error, &reply_raw);
        Message reply(reply_raw);
        std::string answer = r >= 0 ? "ok" : error.name ? error.name : "errno " + std::to_string(-r);
        std::string message = error.message ? error.message : "";
        sd_bus_error_free(&error);
        std::string what = member + "(" + c.signature + ") on " + path + " as uid " + std::to_string(uid_);

        if (r < 0 && !kDocumentedErrors.count(answer))
            violation(what + " answered " + answer + ": " + message.substr(0, 200));
        // luod's own texts are bounded whatever the caller sent. sd-bus answers for members and
        // properties no object has with the names the caller sent ("Unknown interface %s or
        // property %s."). With sdbus-c++ 2 luod answers names that are not D-Bus names itself,
        // so the quoted ones are at most 255 bytes each (sid's libsystemd escapes them 4x);
        // with 1.2 (libsystemd 252, unescaped) the answer is never longer than the call, so it
        // cannot push a reply over the bus's limit (finding 2), but not bounded either: see
        // docs/architecture.md.
        bool sd_bus_echo = LUO_SDBUS_MAJOR < 2 && message.rfind("Unknown ", 0) == 0 &&
                           (answer == "org.freedesktop.DBus.Error.UnknownProperty" ||
                            answer == "org.freedesktop.DBus.Error.UnknownInterface" ||
                            answer == "org.freedesktop.DBus.Error.UnknownMethod");
        if (message.size() > (sd_bus_echo ? sent.size() + 256 : kMaxErrorMessage))
            violation(what + ": " + answer + " with a message of " + std::to_string(message.size()) + " bytes: " +
                      message.substr(0, 120));

        // Its own sessions, to aim at later.
        if (r >= 0 && member == "CreateSession" && reply) {
            const char* p = nullptr;
            if (sd_bus_message_read_basic(reply.get(), 'o', &p) > 0 && p)
                own_paths_.push_back(p);
            // Names are global: it may have taken one another caller meant to use.
            own_names_.insert(sent.substr(0, sent.find('\n')));
        }
        if (r >= 0 && member == "Close")
            std::erase(own_paths_, path);

        if (uid_ != 0) {
            // What a user may do at all; root's members (and writing luod's log settings) never work.
            static const std::set<std::string> users_members{
                "CreateSession", "GetSession", "ListSessions", "RetrieveSession", "Inhibit", "Check", "PreserveFd",
                "PreserveFds",   "RetrieveFd", "AcquireFd",    "Finish",          "Close",   "Get",   "GetAll",
                "Introspect",    "Ping"};
            if (r >= 0 && !users_members.count(member))
                violation(what + " succeeded");
            // Another owner's object: nothing but what sd-bus says of any object it has.
            bool others = std::find(leaked_.begin(), leaked_.end(), path) != leaked_.end();
            bool standard = interface == "org.freedesktop.DBus.Introspectable" || interface == "org.freedesktop.DBus.Peer";
            if (others && !standard && !(r < 0 && kExistenceOnly.count(answer)))
                violation(what + ": another owner's object answered " + answer + " " + message.substr(0, 200));
            // Nothing it did not send names another owner's session or label.
            std::string text = message;
            if (reply) {
                char* buffer = nullptr;
                std::size_t size = 0;
                if (FILE* f = ::open_memstream(&buffer, &size)) {
                    sd_bus_message_dump(reply.get(), f, 0);
                    std::fclose(f);
                    text += std::string(buffer, size);
                    std::free(buffer);
                }
            }
            for (const std::string& secret : secrets_)
                if (text.find(secret) != std::string::npos && sent.find(secret) == std::string::npos &&
                    !own_names_.count(secret))
                    violation(what + " told of " + secret);
        }

        // Feedback: luod's code paths show in its answers, so a call whose member, kind of
        // signature and target, and answer (its error text without the quoted parts and numbers)
        // were not seen before joins the corpus.
        std::string path_kind = path == dbus::kManagerPath                                              ? "manager"
                                : std::find(leaked_.begin(), leaked_.end(), path) != leaked_.end()       ? "others'"
                                : std::find(own_paths_.begin(), own_paths_.end(), path) != own_paths_.end() ? "own"
                                                                                                        : path;
        std::string key = member + "|" + (c.signature == kSignatures[static_cast<std::size_t>(c.member)] ? "" : "~") +
                          "|" + path_kind + "|" + answer + "|" + text_shape(message);
        if (seen_.insert(key).second) {
            corpus_.push_back(c);
            if (std::getenv("LUOD_DBUS_FUZZ_VERBOSE"))
                std::fprintf(stderr, "new: %s\n", key.c_str());
        }
    }

    int index_;
    uid_t uid_;
    std::mt19937 rng_;
    std::vector<std::string> leaked_, secrets_, own_paths_;
    std::set<std::string> own_names_;
    std::unique_ptr<sd_bus, BusUnref> bus_;
    std::vector<Call> corpus_;
    std::set<std::string> seen_;
    unsigned executed_ = 0;
    std::string violations_;
};

}  // namespace

TEST_CASE("a D-Bus fuzzer as root and 3 uids at once: every answer documented, nothing of others told or touched, "
          "root's sessions intact",
          "[luod][hostile][fuzz]")
{
    const std::uint32_t seed = env_number("LUOD_DBUS_FUZZ_SEED", 20261206u);
    const unsigned calls = env_number("LUOD_DBUS_FUZZ_CALLS", 1000);
    std::fprintf(stderr, "dbus fuzz: seed %u, %u calls per caller (LUOD_DBUS_FUZZ_SEED, LUOD_DBUS_FUZZ_CALLS)\n", seed,
                 calls);
    raise_fd_limit(16384);
    LuodOptions lo;
    lo.config = "[Sessions]\nMaxSessionsPerUser=4\n";
    Luod t(lo, machine());

    std::vector<UniqueFd> root_memfds;
    std::vector<std::string> root_paths;
    for (const std::string& name : kSecretSessions) {
        root_paths.push_back(t.client.create_session(name));
        root_memfds.push_back(make_memfd("root", secret_content(name)));
        t.client.preserve(name, root_memfds.back().get(), kSecretLabel);
    }
    auto kernel_before = t.kernel_sessions();
    std::size_t luod_fds_before = t.settled_fd_count();

    std::vector<uid_t> uids{0};
    for (uid_t uid : unprivileged_uids(kUnprivilegedCallers))
        uids.push_back(uid);
    REQUIRE(uids.size() == kUnprivilegedCallers + 1);

    // Each caller writes "<executed> <corpus> <outcomes>" to its pipe.
    std::vector<std::pair<pid_t, UniqueFd>> callers;
    for (std::size_t i = 0; i < uids.size(); ++i) {
        std::vector<std::string> secrets{kSecretLabel};
        for (const std::string& s : kSecretSessions)
            secrets.push_back(s);
        // Not root's fuzzing names: root may create a session for any owner (OwnerUID).
        for (std::size_t j = 1; j < uids.size(); ++j)
            if (j != i)
                for (unsigned n = 0; n < 6; ++n)
                    secrets.push_back(own_name(static_cast<int>(j), n));
        int p[2];
        REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
        UniqueFd read_end(p[0]), write_end(p[1]);
        uid_t uid = uids[i];
        std::uint32_t caller_seed = seed * 131u + static_cast<std::uint32_t>(i);
        std::vector<std::string> leaked = uid == 0 ? std::vector<std::string>{} : root_paths;
        if (uid == 0)
            secrets.clear();  // root may see everything
        pid_t pid = spawn([&, i, uid, caller_seed, leaked, secrets, pipe_end = write_end.get()] {
            // Not the test's copies of luod's fds (the stand-in fd store): the pipe only, as fd 3.
            ::dup2(pipe_end, 3);
            ::close_range(4, ~0u, 0);
            const int out = 3;
            auto body = [&] {
                Caller caller(t.bus.address(), static_cast<int>(i), uid, caller_seed, leaked, secrets);
                std::string v = caller.run(calls);
                std::string stats = std::to_string(caller.executed()) + " " + std::to_string(caller.corpus_size()) +
                                    " " + std::to_string(caller.outcomes()) + "\n";
                (void)!::write(out, stats.data(), stats.size());
                if (!v.empty())
                    std::fprintf(stderr, "dbus fuzz caller %zu (uid %u): %s\n", i, uid, v.c_str());
                return v.empty() ? 0 : 1;
            };
            return uid == 0 ? body() : run_as_uid(uid, body);
        });
        write_end.reset();
        callers.emplace_back(pid, std::move(read_end));
    }
    unsigned executed = 0, corpus = 0, outcomes = 0;
    for (auto& [pid, out] : callers) {
        CHECK(wait_exit(pid) == 0);
        char buffer[128] = {};
        (void)!::read(out.get(), buffer, sizeof buffer - 1);
        unsigned e = 0, c = 0, o = 0;
        if (std::sscanf(buffer, "%u %u %u", &e, &c, &o) == 3) {
            executed += e;
            corpus += c;
            outcomes += o;
        }
    }
    std::fprintf(stderr, "dbus fuzz: seed %u, %u calls sent by %zu callers (root and %d uids), corpus %u, %u distinct "
                 "(member, kind of signature and target, answer)\n",
                 seed, executed, uids.size(), kUnprivilegedCallers, corpus, outcomes);
    CHECK(executed > calls * 2);  // most generated calls are well-formed enough to send

    // luod serves, root's sessions are as they were, and nothing of the callers stays.
    REQUIRE(t.luod.alive());
    for (const std::string& name : kSecretSessions) {
        INFO(name);
        auto files = t.client.files(name);
        REQUIRE(files.size() == 1);
        CHECK(std::get<0>(files[0]) == kSecretLabel);
        CHECK(t.kernel_sessions()[name] == kernel_before[name]);
    }
    CHECK(t.close_sessions_except(kSecretSessions, luod_fds_before) == luod_fds_before);
    CHECK(t.luod.log().find("critical") == std::string::npos);
}
