// SPDX-License-Identifier: Apache-2.0
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "eventually.h"
#include "luo/error.h"
#include "luo/kexec.h"
#include "luo/model_control.h"

#ifndef LUO_BUILD_DIR
#error "LUO_BUILD_DIR must name the build tree"
#endif

namespace luo::test {

TempDir::TempDir(std::string_view prefix)
{
    std::string pattern = (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).native();
    if (!::mkdtemp(pattern.data()))
        throw_last_errno("mkdtemp");
    path_ = pattern;
}

TempDir::~TempDir()
{
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::filesystem::path built_program(std::string_view name)
{
    std::filesystem::path build(LUO_BUILD_DIR);
    for (const char* dir : {"kernel", "daemon/luod", "daemon/luoctl", "bench", "examples/kexec-demo",
                            "examples/cache-service", "examples/vmm-client"}) {
        auto p = build / dir / name;
        if (std::filesystem::is_regular_file(p) && ::access(p.c_str(), X_OK) == 0)
            return p;
    }
    throw std::runtime_error("program not built: " + std::string(name));
}

ReachableProgram::ReachableProgram(std::string_view name) : dir_("luo-reachable")
{
    namespace fs = std::filesystem;
    fs::path program = built_program(name);
    path_ = dir_.path() / program.filename();
    fs::copy_file(program, path_);
    // The libraries ldd resolves into the build tree (libluo); the rest are the system's.
    ProgramResult libs = run_program({"/usr/bin/ldd", program.native()});
    if (libs.status != 0)
        throw std::runtime_error("ldd " + program.native() + " failed: " + libs.err);
    std::istringstream lines(libs.out);
    const std::string build = fs::weakly_canonical(LUO_BUILD_DIR).native() + "/";
    for (std::string line; std::getline(lines, line);) {
        auto arrow = line.find("=> ");
        if (arrow == std::string::npos)
            continue;
        std::string lib = line.substr(arrow + 3, line.find(" (", arrow) - arrow - 3);
        if (fs::weakly_canonical(lib).native().rfind(build, 0) == 0)
            fs::copy_file(lib, dir_.path() / fs::path(lib).filename(), fs::copy_options::overwrite_existing);
    }
    fs::permissions(dir_.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                     fs::perms::others_read | fs::perms::others_exec);
}

Cgroup::Cgroup()
{
    std::ifstream mounts("/proc/self/mounts");
    std::string dev, dir, type, rest;
    while (mounts >> dev >> dir >> type && std::getline(mounts, rest))
        if (type == "cgroup2")
            path_ = std::filesystem::path(dir) / ("luo-test-" + std::to_string(::getpid()) + "-" +
                                                  std::to_string(reinterpret_cast<std::uintptr_t>(this) & 0xffff));
    if (path_.empty())
        throw std::runtime_error("no cgroup2 hierarchy is mounted");
    std::filesystem::create_directory(path_);
}

Cgroup::~Cgroup()
{
    // Members may still be on their way out.
    (void)eventually(
        [&] {
            if (::rmdir(path_.c_str()) == 0 || errno != EBUSY)
                return true;
            std::ifstream procs(path_ / "cgroup.procs");
            for (pid_t pid; procs >> pid;)
                ::kill(pid, SIGKILL);
            return false;
        },
        std::chrono::seconds(2));
}

void Cgroup::add(pid_t pid) const
{
    std::ofstream out(path_ / "cgroup.procs");
    out << pid << "\n";
    out.flush();
    if (!out)
        throw std::runtime_error("cannot move " + std::to_string(pid) + " into " + path_.native());
}

ModelProcess::ModelProcess(ModelOptions options) : root_("luo-model-root"), scratch_("luo-model-scratch")
{
    std::vector<std::string> args{built_program("luo-kernel-model").native(), "--root", root_.path().native(),
                                  "--profile", options.profile, "--cmdline", options.cmdline,
                                  "--log-level", "debug"};
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
    if (options.machine) {
        machine_ = std::make_unique<Cgroup>();
        args.insert(args.end(), {"--spare-pid", std::to_string(::getpid()), "--kill-cgroup", machine_->path().native()});
    }
    auto log = scratch_.path() / "model.log";
    pid_ = ::fork();
    if (pid_ < 0)
        throw_last_errno("fork");
    if (pid_ == 0) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        ::dup2(fd, 2);
        int null = ::open("/dev/null", O_RDWR);
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::setpgid(0, 0);  // not in the test's process group
        exec_program(args, {});
    }
    wait_for_boot("");
}

ModelProcess::~ModelProcess()
{
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        int status;
        ::waitpid(pid_, &status, 0);
    }
}

std::string ModelProcess::boot_id() const { return model::boot_id(root()); }

void ModelProcess::enter_machine(pid_t pid) const
{
    if (!machine_)
        throw std::runtime_error("the model was started without ModelOptions::machine");
    machine_->add(pid);
}

pid_t ModelProcess::start_in_machine(const std::vector<std::string>& args, const std::vector<std::string>& env,
                                     const std::filesystem::path& log) const
{
    if (!machine_)
        throw std::runtime_error("the model was started without ModelOptions::machine");
    std::string procs = (machine_->path() / "cgroup.procs").native();
    pid_t pid = ::fork();
    if (pid < 0)
        throw_last_errno("fork");
    if (pid == 0) {
        int fd = ::open(procs.c_str(), O_WRONLY);
        std::string me = std::to_string(::getpid());
        if (fd < 0 || ::write(fd, me.data(), me.size()) < 0)
            ::_exit(126);
        int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        ::dup2(out, 1);
        ::dup2(out, 2);
        ::setpgid(0, 0);
        exec_program(args, env);
    }
    return pid;
}

std::string ModelProcess::log() const
{
    std::ifstream in(scratch_.path() / "model.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
}

bool ModelProcess::alive() const
{
    int status;
    return ::waitpid(pid_, &status, WNOHANG) == 0;
}

std::size_t ModelProcess::fd_count() const
{
    auto status = nlohmann::json::parse(model::status_json(root()));
    return status.at("open_fds").get<std::size_t>();
}

std::string ModelProcess::wait_for_boot(const std::string& previous)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
        if (!alive())
            throw std::runtime_error("luo-kernel-model exited; log:\n" + log());
        try {
            return model::wait_for_boot(root(), previous, std::chrono::milliseconds(200));
        } catch (const Error& e) {
            if (e.errno_value() != ETIMEDOUT || std::chrono::steady_clock::now() > deadline)
                throw;
        }
    }
}

void ModelProcess::load_kernel(const std::string& profile, const std::string& cmdline)
{
    auto image = scratch_.path() / ("vmlinuz-" + profile);
    model::write_kernel_image(image, profile);
    UniqueFd kernel(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
    if (!kernel)
        throw_last_errno("open kernel image");
    Kexec(root()).load(kernel.get(), -1, cmdline);
}

int ModelProcess::kexec_reboot()
{
    std::string before = boot_id();
    auto path = scratch_.path() / "reboot-errno";
    int status = run_in_child([&] {
        try {
            Kexec(root()).reboot();
        } catch (const Error& e) {
            std::ofstream(path) << e.errno_value();
            return 1;
        }
        return 0;
    });
    if (status == 1) {
        int err = 0;
        std::ifstream(path) >> err;
        std::filesystem::remove(path);
        return -err;
    }
    // Success never returns to the caller: the model ends it with the rest of userspace.
    if (status != 128 + SIGKILL)
        throw std::runtime_error("unexpected reboot caller status " + std::to_string(status));
    wait_for_boot(before);
    return 0;
}

pid_t spawn(std::function<int()> body)
{
    pid_t pid = ::fork();
    if (pid < 0)
        throw_last_errno("fork");
    if (pid == 0) {
        int rc = 99;
        try {
            rc = body();
        } catch (...) {
        }
        ::_exit(rc);
    }
    return pid;
}

void sleep_forever()
{
    for (;;)
        ::pause();
}

int wait_exit(pid_t pid)
{
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            throw_last_errno("waitpid");
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

int run_in_child(std::function<int()> body) { return wait_exit(spawn(std::move(body))); }

ReadySignal::ReadySignal()
{
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0)
        throw_last_errno("pipe");
    read_.reset(p[0]);
    write_.reset(p[1]);
}

void ReadySignal::notify()
{
    char c = 1;
    (void)!::write(write_.get(), &c, 1);
}

bool ReadySignal::wait(std::chrono::seconds limit)
{
    write_.reset();
    pollfd p{read_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count() * 1000)) != 1)
        return false;
    char c;
    return ::read(read_.get(), &c, 1) == 1;
}

void exec_program(const std::vector<std::string>& args, const std::vector<std::string>& env, int keep_fds)
{
    ::close_range(static_cast<unsigned>(keep_fds), ~0u, 0);
    for (const auto& e : env)
        ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
}

BackgroundProgram::BackgroundProgram(const std::vector<std::string>& args, const std::vector<std::string>& env)
    : dir_("luo-run")
{
    auto out_path = dir_.path() / "out", err_path = dir_.path() / "err";
    pid_ = spawn([&]() -> int {
        int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int null = ::open("/dev/null", O_RDONLY);
        ::dup2(null, 0);
        ::dup2(out, 1);
        ::dup2(err, 2);
        ::setpgid(0, 0);
        exec_program(args, env);
    });
}

BackgroundProgram::~BackgroundProgram()
{
    if (pid_ > 0)
        terminate();
}

ProgramResult BackgroundProgram::terminate()
{
    ::kill(-pid_, SIGTERM);
    ::kill(pid_, SIGTERM);
    return finish();
}

ProgramResult BackgroundProgram::finish()
{
    int status = wait_exit(pid_);
    ::kill(-pid_, SIGKILL);  // anything it left behind in its group
    pid_ = -1;
    auto slurp = [](const std::filesystem::path& p) {
        std::ifstream in(p);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    return ProgramResult{status, slurp(dir_.path() / "out"), slurp(dir_.path() / "err")};
}

ProgramResult run_program(const std::vector<std::string>& args, const std::vector<std::string>& env)
{
    return BackgroundProgram(args, env).finish();
}

UniqueFd make_memfd(std::string_view name, std::string_view content, unsigned flags)
{
    UniqueFd fd(::memfd_create(std::string(name).c_str(), MFD_CLOEXEC | flags));
    if (!fd)
        throw_last_errno("memfd_create");
    if (!content.empty() && ::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
        throw_last_errno("write memfd");
    return fd;
}

std::string read_all(int fd, off_t from)
{
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::pread(fd, buf, sizeof buf, from);
        if (n < 0)
            throw_last_errno("pread");
        if (n == 0)
            return out;
        out.append(buf, static_cast<std::size_t>(n));
        from += n;
    }
}

std::size_t count_fds(pid_t pid)
{
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
        ++n;
    return n;
}

std::size_t count_fds_to(pid_t pid, std::string_view target_prefix)
{
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
        if (std::filesystem::read_symlink(e.path(), ec).native().starts_with(target_prefix))
            ++n;
    return n;
}

void raise_fd_limit(std::size_t wanted)
{
    rlimit lim;
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur >= wanted)
        return;
    lim.rlim_cur = std::min<rlim_t>(wanted, lim.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &lim);
}

}  // namespace luo::test
