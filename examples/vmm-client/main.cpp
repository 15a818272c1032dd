// SPDX-License-Identifier: Apache-2.0
// luo-vmm-client: a stand-in for a VMM (think QEMU with CPR) that keeps a guest's RAM across a
// live update through luod (luo::Client). Tests and the demo use it.
//
// The guest is two memfds in the session --name:
//   guest-ram  --ram-mib MiB filled with a pseudo-random pattern seeded from the name
//   vm-state   one page holding a VmState header: the RAM size, its checksum, a generation
// How it starts (luo::Client::open_session):
//   created    new memfds, preserved under those labels.
//   reopened   an earlier run left an outgoing session: luod hands back files of incoming
//              sessions only, so its memfds are out of reach. Close it and start fresh.
//   incoming   a live update carried the guest: retrieve both (the RAM charged to this
//              process), check the checksum, finish the incoming session, then preserve the
//              same memfds in a new outgoing session for the next update (generation + 1).
// It takes a delay inhibitor before it touches its session and holds it while the guest is
// set up or restored and while it runs, so that an update waits until the guest is preserved
// and quiesced: PrepareForUpdate(true) quiesces and releases it, PrepareForUpdate(false)
// takes it again. --ready-file is written only once the guest is preserved.
// SIGTERM/SIGINT end it with status 0; luod keeps the session.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "luo/client.h"
#include "luo/error.h"
#include "luo/unique_fd.h"
#include "stop_signals.h"

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr const char* kRamLabel = "guest-ram";
constexpr const char* kStateLabel = "vm-state";
constexpr std::size_t kMaxNameBytes = 63;  // luod's limit for session names

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitMismatch = 3;

struct Options {
    std::string name = "vm-1";
    std::uint64_t ram_mib = 256;
    std::string bus_address;  // empty: the system bus
    bool once = false;
    bool no_inhibit = false;
    std::uint32_t quiesce_ms = 50;
    std::string ready_file;  // empty: none
};

// Every line carries the VM's name, so that several clients can share one log.
class Console {
public:
    explicit Console(const std::string& name) : prefix_("luo-vmm-client[" + name + "]: ") {}

    void say(const std::string& line) const
    {
        std::printf("%s%s\n", prefix_.c_str(), line.c_str());
        std::fflush(stdout);
    }

    void complain(const std::string& line) const
    {
        std::fprintf(stderr, "%s%s\n", prefix_.c_str(), line.c_str());
        std::fflush(stderr);
    }

private:
    std::string prefix_;
};

// The guest state that came across does not match what was preserved: exit 3, leaving the
// incoming session unfinished so that nothing more is lost.
class StateMismatch : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

std::string hex(std::uint64_t value)
{
    char buf[19];
    std::snprintf(buf, sizeof buf, "0x%016" PRIx64, value);
    return buf;
}

std::string mib(std::uint64_t bytes) { return std::to_string(bytes / kMiB) + " MiB"; }

// A shared mapping of a whole file, unmapped on destruction.
class Mapping {
public:
    Mapping(int fd, std::size_t length, int prot) : length_(length)
    {
        void* addr = ::mmap(nullptr, length, prot, MAP_SHARED, fd, 0);
        if (addr == MAP_FAILED)
            luo::throw_last_errno("mmap");
        addr_ = addr;
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() { ::munmap(addr_, length_); }

    // mmap returns page-aligned memory, so viewing it as 64-bit words is safe.
    [[nodiscard]] std::span<std::uint64_t> words() const noexcept
    {
        return {static_cast<std::uint64_t*>(addr_), length_ / sizeof(std::uint64_t)};
    }

private:
    void* addr_ = nullptr;
    std::size_t length_ = 0;
};

// splitmix64: fast, and the same sequence on every run for a given seed.
std::uint64_t splitmix64(std::uint64_t& state) noexcept
{
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

std::uint64_t seed_of(std::string_view name) noexcept
{
    std::uint64_t h = kFnvOffset;
    for (char c : name) {
        h ^= static_cast<unsigned char>(c);
        h *= kFnvPrime;
    }
    return h;
}

// FNV-1a over 8-byte words rather than bytes: eight times fewer multiplications, which
// matters for hundreds of MiB.
std::uint64_t checksum(std::span<const std::uint64_t> words) noexcept
{
    std::uint64_t h = kFnvOffset;
    for (std::uint64_t w : words) {
        h ^= w;
        h *= kFnvPrime;
    }
    return h;
}

std::uint64_t file_size(int fd)
{
    struct stat st {};
    if (::fstat(fd, &st) < 0)
        luo::throw_last_errno("fstat");
    return static_cast<std::uint64_t>(st.st_size);
}

std::uint64_t checksum_of_file(int fd, std::uint64_t size)
{
    Mapping map(fd, size, PROT_READ);
    return checksum(map.words());
}

// Sized before it is preserved: a preserved memfd can no longer grow or shrink.
luo::UniqueFd make_memfd(const char* name, std::uint64_t size)
{
    luo::UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
    if (!fd)
        luo::throw_last_errno(std::string("memfd_create ") + name);
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0)
        luo::throw_last_errno(std::string("ftruncate ") + name);
    return fd;
}

// The layout of vm-state, at offset 0 of its page. Fixed so that the next run, possibly a
// newer build, reads it back: bump kStateVersion on any change.
struct VmState {
    std::array<char, 8> magic;
    std::uint32_t version;
    std::uint32_t header_bytes;
    std::uint64_t ram_bytes;
    std::uint64_t ram_checksum;
    std::uint64_t generation;  // live updates this guest has come through
    std::array<char, kMaxNameBytes + 1> name;
};
static_assert(std::is_trivially_copyable_v<VmState> && std::is_standard_layout_v<VmState>);
static_assert(sizeof(VmState) == 104);

constexpr std::array<char, 8> kStateMagic{'L', 'U', 'O', 'V', 'M', 'M', 'S', 'T'};
constexpr std::uint32_t kStateVersion = 1;

VmState new_state(const std::string& name, std::uint64_t ram_bytes, std::uint64_t ram_checksum)
{
    VmState state{};
    state.magic = kStateMagic;
    state.version = kStateVersion;
    state.header_bytes = sizeof(VmState);
    state.ram_bytes = ram_bytes;
    state.ram_checksum = ram_checksum;
    state.generation = 0;
    name.copy(state.name.data(), state.name.size() - 1);
    return state;
}

void write_state(int fd, const VmState& state)
{
    ssize_t n = ::pwrite(fd, &state, sizeof state, 0);
    if (n < 0)
        luo::throw_last_errno("write vm-state");
    if (static_cast<std::size_t>(n) != sizeof state)
        luo::throw_errno(EIO, "short write of vm-state");
}

// Reads and checks the header; StateMismatch when it is not what this program wrote.
VmState read_state(int fd, const std::string& name)
{
    if (file_size(fd) < sizeof(VmState))
        throw StateMismatch("vm-state is too small for its header");
    VmState state{};
    ssize_t n = ::pread(fd, &state, sizeof state, 0);
    if (n < 0)
        luo::throw_last_errno("read vm-state");
    if (static_cast<std::size_t>(n) != sizeof state)
        throw StateMismatch("vm-state is too small for its header");
    if (state.magic != kStateMagic)
        throw StateMismatch("vm-state has a wrong magic number");
    if (state.version != kStateVersion || state.header_bytes != sizeof(VmState))
        throw StateMismatch("vm-state has version " + std::to_string(state.version) + ", expected " +
                            std::to_string(kStateVersion));
    if (state.ram_bytes == 0 || state.ram_bytes % kMiB != 0)
        throw StateMismatch("vm-state records an invalid guest RAM size of " + std::to_string(state.ram_bytes) +
                            " bytes");
    state.name.back() = '\0';
    if (name != state.name.data())
        throw StateMismatch("vm-state belongs to VM \"" + std::string(state.name.data()) + "\"");
    return state;
}

// A running guest: its memory, its state page and the outgoing session preserving both.
struct Vm {
    luo::UniqueFd ram;
    luo::UniqueFd state_fd;
    VmState state{};
    luo::ClientSession session;
};

void preserve(Vm& vm, const Console& console)
{
    std::vector<std::pair<int, std::string>> files{{vm.ram.get(), kRamLabel}, {vm.state_fd.get(), kStateLabel}};
    // One PreserveFds call, so that luod sees the guest as a whole.
    std::vector<std::uint64_t> tokens = vm.session.preserve(files);
    console.say("preserved guest-ram (token " + std::to_string(tokens.at(0)) + ") and vm-state (token " +
                std::to_string(tokens.at(1)) + ") in session " + vm.session.name() + ", generation " +
                std::to_string(vm.state.generation));
}

Vm start_fresh(luo::ClientSession session, const Options& options, const Console& console)
{
    const std::uint64_t ram_bytes = options.ram_mib * kMiB;
    Vm vm;
    vm.ram = make_memfd(kRamLabel, ram_bytes);
    std::uint64_t sum = 0;
    {
        Mapping map(vm.ram.get(), ram_bytes, PROT_READ | PROT_WRITE);
        std::uint64_t seed = seed_of(options.name);
        for (std::uint64_t& word : map.words())
            word = splitmix64(seed);
        sum = checksum(map.words());
    }
    console.say("booted a new guest: " + mib(ram_bytes) + " of RAM, checksum " + hex(sum));

    const long page = ::sysconf(_SC_PAGESIZE);
    vm.state_fd = make_memfd(kStateLabel, page > 0 ? static_cast<std::uint64_t>(page) : 4096);
    vm.state = new_state(options.name, ram_bytes, sum);
    write_state(vm.state_fd.get(), vm.state);

    vm.session = std::move(session);
    preserve(vm, console);
    return vm;
}

Vm restore(luo::Client& client, luo::ClientSession incoming, const Options& options, const Console& console)
{
    console.say("incoming session " + options.name + " came across a live update: restoring the guest");
    Vm vm;
    vm.state_fd = incoming.retrieve(kStateLabel);
    vm.state = read_state(vm.state_fd.get(), options.name);
    console.say("vm-state: generation " + std::to_string(vm.state.generation) + ", guest RAM " +
                mib(vm.state.ram_bytes) + ", checksum " + hex(vm.state.ram_checksum));
    if (vm.state.ram_bytes != options.ram_mib * kMiB)
        console.say("keeping the guest's " + mib(vm.state.ram_bytes) + " of RAM (--ram-mib applies to new guests)");

    vm.ram = incoming.retrieve(kRamLabel);  // through our own ioctl: the pages are charged to us
    const std::uint64_t size = file_size(vm.ram.get());
    if (size != vm.state.ram_bytes) {
        console.say("restored guest RAM: " + std::to_string(size) + " bytes, size MISMATCH (expected " +
                    std::to_string(vm.state.ram_bytes) + " bytes)");
        throw StateMismatch("guest-ram has the wrong size");
    }
    const std::uint64_t sum = checksum_of_file(vm.ram.get(), size);
    if (sum != vm.state.ram_checksum) {
        console.say("restored guest RAM: " + mib(size) + ", checksum " + hex(sum) + " MISMATCH (expected " +
                    hex(vm.state.ram_checksum) + ")");
        throw StateMismatch("guest-ram does not match its checksum");
    }
    console.say("restored guest RAM: " + mib(size) + ", checksum " + hex(sum) + " OK");

    // Finished before preserving again: until then the kernel counts the memfds as managed
    // by the incoming session (EBUSY), and luod holds the session's name.
    incoming.finish();
    console.say("finished the incoming session " + options.name);

    vm.state.generation += 1;
    write_state(vm.state_fd.get(), vm.state);
    vm.session = client.create_session(options.name);
    preserve(vm, console);
    return vm;
}

luo::UniqueFd take_inhibitor(luo::Client& client, const Options& options)
{
    return client.inhibit("vmm " + options.name, "guest memory must be quiesced", "delay");
}

// The delay inhibitor and what the guest is doing about updates.
struct UpdateGate {
    luo::UniqueFd inhibitor;
    bool quiesced = false;
};

void quiesce(UpdateGate& gate, const Options& options, const Console& console)
{
    console.say("quiescing");
    // The guest's vCPUs would be stopped here; from now on nothing writes guest RAM.
    std::this_thread::sleep_for(std::chrono::milliseconds(options.quiesce_ms));
    gate.inhibitor.reset();
    gate.quiesced = true;
    console.say("quiesced; inhibitor released");
}

// Writes `text` to a temporary file next to `path`, then renames it over `path`, so that a
// reader never sees a partial file.
void write_ready_file(const std::string& path, const std::string& text)
{
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    {
        luo::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (!fd)
            luo::throw_last_errno("open " + tmp);
        std::string_view rest = text;
        while (!rest.empty()) {
            ssize_t n = ::write(fd.get(), rest.data(), rest.size());
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                int err = errno;
                ::unlink(tmp.c_str());
                luo::throw_errno(err, "write " + tmp);
            }
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) < 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        luo::throw_errno(err, "rename " + tmp + " to " + path);
    }
}

int serve(luo::Client& client, UpdateGate& gate, const luo::UpdateSignalPipe& updates, const Options& options,
          const Console& console, int signal_fd)
{
    // An update that began before on_prepare_for_update() subscribed sent its
    // PrepareForUpdate(true) already: quiesce now rather than hold it up until its timeout.
    if (!options.no_inhibit && client.state() == "preparing")
        quiesce(gate, options, console);

    for (;;) {
        pollfd fds[] = {{signal_fd, POLLIN, 0}, {updates.fd(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            luo::throw_last_errno("poll");
        }
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo info{};
            [[maybe_unused]] ssize_t n = ::read(signal_fd, &info, sizeof info);
            console.say(std::string("stopping on ") + (info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM") +
                        "; luod keeps session " + options.name);
            return kExitOk;
        }
        if (fds[1].revents & POLLIN) {
            for (bool start : updates.take()) {
                if (start && !gate.quiesced) {
                    quiesce(gate, options, console);
                } else if (!start && gate.quiesced) {
                    console.say("resuming");
                    gate.inhibitor = take_inhibitor(client, options);
                    gate.quiesced = false;
                }
            }
        }
    }
}

int run(const Options& options, const Console& console, int signal_fd)
{
    luo::UpdateSignalPipe updates;  // outlives the client, whose signal thread writes to it
    luo::Client client =
        options.bus_address.empty() ? luo::Client::connect() : luo::Client::connect(options.bus_address);

    // The delay inhibitor comes first and is held until the guest is preserved or restored:
    // an update that starts while the guest is being set up waits for it instead of carrying
    // a session with no files. Subscribed before the lock is taken, so that no
    // PrepareForUpdate(true) falls between.
    UpdateGate gate;
    if (!options.no_inhibit) {
        client.on_prepare_for_update([&updates](bool start) { updates.post(start); });
        gate.inhibitor = take_inhibitor(client, options);
        console.say("holding a delay inhibitor");
    }

    luo::Client::Opened how{};
    luo::ClientSession session = client.open_session(options.name, &how);
    Vm vm;
    std::string ready_text = "ready\n";
    if (how == luo::Client::Opened::incoming) {
        vm = restore(client, std::move(session), options, console);
        ready_text = "restored " + hex(vm.state.ram_checksum) + "\n";
    } else {
        if (how == luo::Client::Opened::reopened) {
            // Only incoming sessions give files back: the earlier run's memfds are lost to us.
            console.say("session " + options.name +
                        " is left over from an earlier run and its memfds cannot be retrieved before an update: "
                        "closing it and starting fresh");
            session.close();
            session = client.create_session(options.name);
        }
        console.say("created session " + options.name);
        vm = start_fresh(std::move(session), options, console);
    }

    console.say("running: guest RAM " + mib(vm.state.ram_bytes) + ", checksum " + hex(vm.state.ram_checksum));
    if (!options.ready_file.empty())
        write_ready_file(options.ready_file, ready_text);
    if (options.once) {
        console.say("exiting (--once); luod keeps session " + options.name);
        return kExitOk;
    }
    return serve(client, gate, updates, options, console, signal_fd);
}

}  // namespace

int main(int argc, char** argv)
{
    Options options;
    CLI::App app{"A stand-in VMM that keeps guest RAM across live updates through luod.", "luo-vmm-client"};
    app.add_option("--name", options.name, "VM name, also the luod session name")
        ->capture_default_str()
        ->check(CLI::Validator(
            [](const std::string& value) {
                return value.empty() || value.size() > kMaxNameBytes
                           ? "expects 1 to " + std::to_string(kMaxNameBytes) + " bytes"
                           : std::string();
            },
            "NAME"));
    app.add_option("--ram-mib", options.ram_mib, "guest RAM of a new guest, in MiB")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    app.add_option("--bus-address", options.bus_address, "D-Bus address of luod's bus (default: the system bus)");
    app.add_flag("--once", options.once, "exit once the guest is set up or restored");
    app.add_flag("--no-inhibit", options.no_inhibit, "take no delay inhibitor; updates do not wait for quiescing");
    app.add_option("--quiesce-ms", options.quiesce_ms, "time quiescing takes")
        ->capture_default_str()
        ->check(CLI::Range(0, 3'600'000));
    app.add_option("--ready-file", options.ready_file,
                   "write \"ready\" (new guest) or \"restored <checksum>\" into this file once running");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? kExitOk : kExitUsage;
    }

    const Console console(options.name);
    try {
        luo::UniqueFd signal_fd = luo::examples::stop_signal_fd();
        return run(options, console, signal_fd.get());
    } catch (const StateMismatch& e) {
        console.complain(std::string(e.what()) + ": leaving the incoming session " + options.name + " unfinished");
        return kExitMismatch;
    } catch (const luo::ClientError& e) {
        console.complain("D-Bus error " + e.name() + ": " + e.message());
        return kExitFailure;
    } catch (const std::exception& e) {
        console.complain(std::string("error: ") + e.what());
        return kExitFailure;
    }
}
