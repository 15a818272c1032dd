// SPDX-License-Identifier: Apache-2.0
#include "luo/device.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <dirent.h>
#include <fstream>

#include "luo/error.h"
#include "luo/model_wire.h"
#include "luo/paths.h"
#include "luo/uapi.h"
#include "model_transport.h"

namespace luo {

const char* to_string(Transport t) { return t == Transport::kernel ? "kernel" : "model"; }
const char* to_string(SessionKind k)
{
    for (const auto& [kind, name] : kSessionKindNames)
        if (kind == k)
            return name.data();  // the names are literals: NUL-terminated
    return "outgoing";
}

std::optional<Transport> transport_of(int fd) noexcept
{
    struct stat st;
    if (::fstat(fd, &st) < 0)
        return std::nullopt;
    // Model fds are sockets; the kernel's are a character device and anonymous inodes
    // (whose reported file type differs between kernel releases).
    return S_ISSOCK(st.st_mode) ? Transport::model : Transport::kernel;
}

int raw_ioctl(int fd, unsigned long request, void* arg) noexcept
{
    struct stat st;
    if (::fstat(fd, &st) < 0)
        return -errno;
    if (S_ISSOCK(st.st_mode))
        return detail::model_ioctl(fd, request, arg);
    int rc = ::ioctl(fd, request, arg);
    return rc < 0 ? -errno : 0;
}

namespace {

void check(int rc, const std::string& what)
{
    if (rc < 0)
        throw_errno(-rc, what);
}

// The typed API accepts the names every kernel accepts alike: 1..63 bytes, no NUL.
void validate_name(std::string_view name)
{
    if (name.empty() || name.size() >= uapi::kSessionNameLength || name.find('\0') != std::string_view::npos)
        throw_errno(EINVAL, "invalid session name (1-63 bytes, no NUL)");
}

template <typename Args>
Args named_args(std::string_view name)
{
    Args args{};
    args.size = sizeof args;
    args.fd = -1;
    std::memcpy(args.name, name.data(), name.size());
    return args;
}

// Who holds the device, for the EBUSY message: the processes with an fd whose link text is
// `link` ("/dev/liveupdate" on the kernel, "socket:[INODE]" on the model). Only link texts
// are read, never the files (a stat could hang on a stalled file system). Processes this
// caller may not inspect are not seen.
std::string describe_holders(const std::string& link)
{
    std::string out;
    std::size_t count = 0;
    DIR* proc = ::opendir("/proc");
    if (!proc)
        return "a process that cannot be named (no /proc)";
    while (dirent* p = ::readdir(proc)) {
        char* end;
        long pid = std::strtol(p->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)  // the caller itself may be the holder, too
            continue;
        std::string fd_dir = std::string("/proc/") + p->d_name + "/fd";
        DIR* fds = ::opendir(fd_dir.c_str());
        if (!fds)
            continue;
        bool holds = false;
        char target[256];
        while (dirent* f = ::readdir(fds)) {
            if (f->d_name[0] == '.')
                continue;
            ssize_t n = ::readlinkat(::dirfd(fds), f->d_name, target, sizeof target - 1);
            if (n > 0 && std::string_view(target, static_cast<std::size_t>(n)) == link) {
                holds = true;
                break;
            }
        }
        ::closedir(fds);
        if (!holds)
            continue;
        std::string comm;
        std::ifstream(std::string("/proc/") + p->d_name + "/comm") >> comm;
        if (count++ < 4)
            out += std::string(count > 1 ? ", " : "") + "pid " + p->d_name + " (" + comm + ")";
    }
    ::closedir(proc);
    if (count == 0)
        return "a process this caller cannot see";
    if (count > 4)
        out += " and " + std::to_string(count - 4) + " more";
    return out;
}

[[noreturn]] void throw_busy(const std::string& path, const std::string& link)
{
    throw_errno(EBUSY, "open " + path + ": held by " + describe_holders(link));
}

UniqueFd open_model_device(const std::filesystem::path& path)
{
    UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!sock)
        throw_last_errno("socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string& p = path.native();
    if (p.size() >= sizeof addr.sun_path)
        throw_errno(ENAMETOOLONG, "open " + p);
    std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
    if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        // A socket nobody listens on is a model that is down or rebooting: no device.
        int err = errno == ECONNREFUSED ? ENOENT : errno;
        throw_errno(err, "open " + p);
    }
    model_wire::Datagram status;
    if (int rc = model_wire::recv_datagram(sock.get(), sizeof(model_wire::OpenStatus), 1, status); rc < 0)
        throw_errno(-rc, "open " + p);
    model_wire::OpenStatus os{};
    if (status.eof || status.bytes.size() != sizeof os)
        throw_errno(EIO, "open " + p + ": no status from the kernel model");
    std::memcpy(&os, status.bytes.data(), sizeof os);
    if (os.magic != model_wire::kMagic)
        throw_errno(EPROTO, "open " + p);
    if (os.result == -EBUSY && os.holder_inode != 0)
        throw_busy(p, "socket:[" + std::to_string(os.holder_inode) + "]");
    if (os.result < 0)
        throw_errno(-os.result, "open " + p);
    if (status.truncated)
        throw_errno(EMFILE, "open " + p);
    if (status.fds.size() != 1)
        throw_errno(EPROTO, "open " + p + ": the kernel model sent no device fd");
    return std::move(status.fds.front());
}

}  // namespace

Session::Session(UniqueFd fd, SessionKind kind) : fd_(std::move(fd)), kind_(kind) {}

void Session::preserve_fd(int fd, std::uint64_t token)
{
    if (kind_ != SessionKind::outgoing)
        throw_errno(EINVAL, "preserve into an incoming session");
    uapi::liveupdate_session_preserve_fd args{};
    args.size = sizeof args;
    args.fd = fd;
    args.token = token;
    check(raw_ioctl(fd_.get(), uapi::kSessionPreserveFd, &args), "LIVEUPDATE_SESSION_PRESERVE_FD");
}

UniqueFd Session::retrieve_fd(std::uint64_t token)
{
    if (kind_ != SessionKind::incoming)
        throw_errno(EINVAL, "retrieve from an outgoing session");
    uapi::liveupdate_session_retrieve_fd args{};
    args.size = sizeof args;
    args.fd = -1;
    args.token = token;
    check(raw_ioctl(fd_.get(), uapi::kSessionRetrieveFd, &args), "LIVEUPDATE_SESSION_RETRIEVE_FD");
    return UniqueFd(args.fd);
}

void Session::finish()
{
    if (kind_ != SessionKind::incoming)
        throw_errno(EINVAL, "finish an outgoing session");
    uapi::liveupdate_session_finish args{};
    args.size = sizeof args;
    check(raw_ioctl(fd_.get(), uapi::kSessionFinish, &args), "LIVEUPDATE_SESSION_FINISH");
}

std::string Session::get_name()
{
    uapi::liveupdate_session_get_name args{};
    args.size = sizeof args;
    check(raw_ioctl(fd_.get(), uapi::kSessionGetName, &args), "LIVEUPDATE_SESSION_GET_NAME");
    return std::string(reinterpret_cast<const char*>(args.name), strnlen(reinterpret_cast<const char*>(args.name), sizeof args.name));
}

Device::Device(UniqueFd fd) : fd_(std::move(fd))
{
    auto t = transport_of(fd_.get());
    if (!t)
        throw_errno(ENOTTY, "not a LUO device");
    transport_ = *t;
}

Device Device::open(const std::filesystem::path& root)
{
    auto path = KernelPaths(root).device();
    struct stat st;
    if (::stat(path.c_str(), &st) < 0)
        throw_last_errno("open " + path.native());
    if (S_ISSOCK(st.st_mode))
        return Device(open_model_device(path));
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd && errno == EBUSY)
        throw_busy(path.native(), path.native());
    if (!fd)
        throw_last_errno("open " + path.native());
    return Device(std::move(fd));
}

Session Device::create_session(std::string_view name)
{
    validate_name(name);
    auto args = named_args<uapi::liveupdate_ioctl_create_session>(name);
    check(raw_ioctl(fd_.get(), uapi::kIoctlCreateSession, &args), "LIVEUPDATE_IOCTL_CREATE_SESSION " + std::string(name));
    return Session(UniqueFd(args.fd), SessionKind::outgoing);
}

Session Device::retrieve_session(std::string_view name)
{
    validate_name(name);
    auto args = named_args<uapi::liveupdate_ioctl_retrieve_session>(name);
    check(raw_ioctl(fd_.get(), uapi::kIoctlRetrieveSession, &args), "LIVEUPDATE_IOCTL_RETRIEVE_SESSION " + std::string(name));
    return Session(UniqueFd(args.fd), SessionKind::incoming);
}

Features Device::probe_features(std::string_view scratch_session_name)
{
    Features f;
    Session scratch = create_session(scratch_session_name);

    f.get_name = [&] {
        try {
            scratch.get_name();
            return true;
        } catch (const Error& e) {
            if (e.errno_value() == EINVAL || e.errno_value() == ENOTTY)
                return false;
            throw;
        }
    }();

    // An empty name is refused from 7.2; older kernels create a session named "".
    {
        uapi::liveupdate_ioctl_create_session args{};
        args.size = sizeof args;
        int rc = raw_ioctl(fd_.get(), uapi::kIoctlCreateSession, &args);
        if (rc == 0)
            ::close(args.fd);
        f.validates_names = (rc == -EINVAL);
    }

    {
        UniqueFd memfd(::memfd_create("luo-probe", MFD_CLOEXEC));
        if (!memfd)
            throw_last_errno("memfd_create");
        scratch.preserve_fd(memfd.get(), 0);
        uapi::liveupdate_session_preserve_fd args{};
        args.size = sizeof args;
        args.fd = memfd.get();
        args.token = 1;
        int rc = raw_ioctl(scratch.fd(), uapi::kSessionPreserveFd, &args);
        if (rc < 0 && rc != -EBUSY)
            throw_errno(-rc, "probe double preservation");
        f.rejects_double_preserve = (rc == -EBUSY);
    }

    if (!f.get_name) {
        // Fixed serialization arrays before 7.2: 16 pages of 80-byte session entries after
        // an 8-byte header, 2 pages of 64-byte file entries.
        long page = ::sysconf(_SC_PAGESIZE);
        f.max_sessions = static_cast<std::uint32_t>((16 * page - 8) / 80);
        f.max_files_per_session = static_cast<std::uint32_t>(2 * page / 64);
    }
    return f;
}

}  // namespace luo
