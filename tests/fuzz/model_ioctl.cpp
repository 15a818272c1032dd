// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the model's request handling (LuoCore::device_ioctl / session_ioctl), driven
// like the model's server drives it, by a userspace program decoded from the input
// (model_program.h): raw requests with arbitrary request values, flags and argument bytes
// next to well-formed ones, real payload fds (memfds, fake vfio devices, files LUO refuses),
// session closes, and reboots that freeze, serialize, deserialize and restore the sessions
// into the next core exactly as the model's kexec does.
//
// Asserted beyond "no crash, no leak": replies have the shape of the ABI (result 0 or
// -errno, the whole known struct copied out, an fd exactly where one is due), success only
// for a request that passed every generic check of kernel-abi.md §1.3, GET_NAME returns the name,
// the outgoing-name index matches the sessions, held sessions never vanish, a reboot's
// handover parses back to what was frozen and restores, and no fd leaks.
//
// The model's datagram parsing (parse_request in kernel/model.cpp) is static and not
// reachable from here; the arguments are laid out in the same datagram bytes it parses.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "luo/model_wire.h"
#include "luo/uapi.h"
#include "model_fixture.h"
#include "model_program.h"

namespace {

using namespace luo::kmodel;
using namespace luo::fuzz::program;
using luo::UniqueFd;
using luo::fuzz::Reader;
namespace uapi = luo::uapi;
namespace wire = luo::model_wire;

constexpr std::size_t kMaxHeldFiles = 12;
constexpr std::size_t kMaxOps = 400;
constexpr int kMaxReboots = 3;

struct KnownStruct {
    std::uint32_t min_size;
    std::size_t size;
};

// The generic checks of kernel-abi.md §1.3 for a known nr: minimum and kernel struct size.
std::optional<KnownStruct> known_struct(unsigned nr)
{
    switch (nr) {
    case uapi::kCmdCreateSession: return KnownStruct{uapi::kMinSizeCreateSession, 72};
    case uapi::kCmdRetrieveSession: return KnownStruct{uapi::kMinSizeRetrieveSession, 72};
    case uapi::kCmdSessionPreserveFd: return KnownStruct{uapi::kMinSizePreserveFd, 16};
    case uapi::kCmdSessionRetrieveFd: return KnownStruct{uapi::kMinSizeRetrieveFd, 16};
    case uapi::kCmdSessionFinish: return KnownStruct{uapi::kMinSizeFinish, 8};
    case uapi::kCmdSessionGetName: return KnownStruct{uapi::kMinSizeGetName, 72};
    default: return std::nullopt;
    }
}

// One request as the model receives it: the datagram bytes (header + argument).
struct Request {
    std::vector<std::byte> datagram;
    std::uint16_t flags = 0;
    std::uint64_t request = 0;
    std::vector<UniqueFd> payload;

    [[nodiscard]] std::span<const std::byte> arg() const
    {
        return std::span<const std::byte>(datagram).subspan(sizeof(wire::RequestHeader));
    }
    [[nodiscard]] std::uint32_t size_field() const
    {
        std::uint32_t size = 0;
        std::memcpy(&size, arg().data(), std::min(arg().size(), sizeof size));
        return size;
    }
};

Request make_request(std::uint64_t request, std::uint16_t flags, std::span<const std::byte> arg)
{
    Request r;
    r.request = request;
    r.flags = flags;
    wire::RequestHeader h{wire::kMagic, wire::kVersion, flags, request, static_cast<std::uint32_t>(arg.size()), 0};
    r.datagram.resize(sizeof h + arg.size());
    std::memcpy(r.datagram.data(), &h, sizeof h);
    if (!arg.empty())
        std::memcpy(r.datagram.data() + sizeof h, arg.data(), arg.size());
    return r;
}

template <typename T>
Request struct_request(unsigned nr, const T& value)
{
    return make_request(uapi::ioctl_request(nr), 0, std::as_bytes(std::span(&value, 1)));
}

struct HeldSession {
    std::uint64_t seq = 0;
    UniqueFd client;  // the session fd userspace holds
};

class Driver {
public:
    Driver(Profile profile, std::uint32_t max_blocks)
        : profile_(std::move(profile)), max_blocks_(max_blocks), fixture_(luo::fuzz::ModelFixture::get())
    {
        core_ = std::make_unique<LuoCore>(profile_, max_blocks_, fixture_.handlers(profile_));
    }

    ~Driver()
    {
        // Userspace goes first, then the kernel, as at shutdown.
        held_.clear();
        files_.clear();
        core_.reset();
    }

    Driver(const Driver&) = delete;
    Driver& operator=(const Driver&) = delete;

    void run(Reader& in)
    {
        for (std::size_t ops = 0; !in.empty() && ops < kMaxOps && !dead_; ++ops) {
            switch (in.u8() % kOpCount) {
            case kOpDeviceRaw: device_raw(in); break;
            case kOpSessionRaw: session_raw(in); break;
            case kOpCreate: create(in); break;
            case kOpRetrieveSession: retrieve_session(in); break;
            case kOpPreserve: preserve(in); break;
            case kOpRetrieveFd: retrieve_fd(in); break;
            case kOpFinish: finish(in); break;
            case kOpGetName: get_name(in); break;
            case kOpClose: close_session(in); break;
            case kOpReboot: reboot(); break;
            case kOpMemfd: new_memfd(in); break;
            case kOpDropFd: drop_fd(in); break;
            case kOpEndpointFail: endpoint_fail(in); break;
            default: break;
            }
            check_invariants();
        }
    }

private:
    // --- requests --------------------------------------------------------------------

    static std::uint64_t request_value(Reader& in)
    {
        std::uint8_t sel = in.u8();
        static constexpr unsigned kNrs[] = {0x00, 0x01, 0x40, 0x41, 0x42, 0x43};
        if (sel < kReqWrongEncoding)
            return uapi::ioctl_request(sel);
        if (sel < kReqOtherType)  // _IOWR with the struct size, as a careless caller would
            return _IOWR(uapi::kIoctlType, kNrs[(sel - kReqWrongEncoding) % 6], uapi::liveupdate_ioctl_create_session);
        if (sel < kReqRawU64)
            return _IO(uapi::kIoctlType + 1 + (sel & 1), kNrs[sel & 1]);
        return in.u64();
    }

    static Request raw_request(Reader& in)
    {
        std::uint64_t request = request_value(in);
        std::uint16_t flags = in.u16();
        std::size_t len = in.u16() % (wire::kMaxArgBytes + 1);
        auto bytes = in.bytes(len);
        std::vector<std::byte> arg(len);  // the rest of a short input reads as zeros
        if (!bytes.empty())
            std::memcpy(arg.data(), bytes.data(), bytes.size());
        return make_request(request, flags, arg);
    }

    UniqueFd open_path(const std::filesystem::path& p, int flags = O_RDWR) const
    {
        return UniqueFd(::open(p.c_str(), flags | O_CLOEXEC));
    }

    static UniqueFd dup(int fd) { return fd < 0 ? UniqueFd() : UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3)); }

    UniqueFd payload_fd(std::uint8_t sel)
    {
        unsigned index = sel >> 5;
        switch ((sel & 0x0f) % kPayCount) {
        case kPayHeld: return files_.empty() ? UniqueFd() : dup(files_[index % files_.size()].get());
        case kPayDevNull: return open_path("/dev/null");
        case kPayPlainFile: return open_path(fixture_.plain_file());
        case kPayVfioReady: return open_path(fixture_.cdev(luo::fuzz::kVfioReady));
        case kPayVfioIrqs: return open_path(fixture_.cdev(luo::fuzz::kVfioIrqs));
        case kPayVfioD3: return open_path(fixture_.cdev(luo::fuzz::kVfioD3));
        case kPayVfioGroup: return open_path(fixture_.group(luo::fuzz::kVfioReady));
        case kPaySessionFd: return held_.empty() ? UniqueFd() : dup(held_[index % held_.size()].client.get());
        case kPayFreshMemfd: return luo::fuzz::make_memfd("fuzz-payload", 4096);
        case kPayHugeMemfd: return UniqueFd(::memfd_create("fuzz-huge", MFD_CLOEXEC | MFD_HUGETLB));
        case kPayPipe: {
            int p[2];
            if (::pipe2(p, O_CLOEXEC) < 0)
                return {};
            ::close(p[1]);
            return UniqueFd(p[0]);
        }
        default: return {};
        }
    }

    void add_payload(Request& r, std::uint8_t sel)
    {
        if ((sel & 0x0f) % kPayCount == kPayNone)
            return;
        r.payload.push_back(payload_fd(sel));
        if (sel & kPayTwoFds)
            r.payload.push_back(luo::fuzz::make_memfd("fuzz-second", 4096));
        // The model receives open fds only (a closed one is the kFlagFdNotOpen flag).
        std::erase_if(r.payload, [](const UniqueFd& fd) { return !fd; });
    }

    IoctlRequest to_ioctl(Request& r)
    {
        return IoctlRequest{r.request, r.flags, r.arg(), std::move(r.payload)};
    }

    int make_endpoint(UniqueFd& model_end, UniqueFd& client_end, ino_t& client_inode)
    {
        if (int err = std::exchange(endpoint_failure_, 0))
            return -err;
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
            return -errno;
        model_end.reset(sv[0]);
        client_end.reset(sv[1]);
        struct stat st;
        if (::fstat(sv[1], &st) < 0)
            return -errno;
        client_inode = st.st_ino;
        return 0;
    }

    IoctlReply device(Request& r)
    {
        Request copy_for_checks = make_request(r.request, r.flags, r.arg());
        IoctlReply reply = core_->device_ioctl(to_ioctl(r), [this](UniqueFd& m, UniqueFd& c, ino_t& i) {
            return make_endpoint(m, c, i);
        });
        check_reply(copy_for_checks, reply, /*device=*/true);
        unsigned nr = uapi::ioctl_nr(copy_for_checks.request);
        if (reply.result == 0) {
            FUZZ_CHECK(reply.new_session != nullptr);
            FUZZ_CHECK(reply.new_session->endpoint);
            FUZZ_CHECK(reply.new_session->incoming == (nr == uapi::kCmdRetrieveSession));
            if (nr == uapi::kCmdCreateSession)
                check_created_name(copy_for_checks, *reply.new_session);
            remember_name(reply.new_session->name);
            held_.push_back({reply.new_session->seq, std::move(reply.fd)});
        }
        return reply;
    }

    IoctlReply session(HeldSession& held, Request& r)
    {
        ModelSession* s = core_->session_by_seq(held.seq);
        FUZZ_CHECK_MSG(s != nullptr, "a session the driver holds vanished");
        Request copy_for_checks = make_request(r.request, r.flags, r.arg());
        IoctlReply reply = core_->session_ioctl(*s, to_ioctl(r));
        check_reply(copy_for_checks, reply, /*device=*/false);
        unsigned nr = uapi::ioctl_nr(copy_for_checks.request);
        if (reply.result == 0 && nr == uapi::kCmdSessionGetName) {
            const auto* got = reinterpret_cast<const char*>(reply.arg.data() + 8);
            std::size_t len = strnlen(got, uapi::kSessionNameLength);
            FUZZ_CHECK_MSG(len < uapi::kSessionNameLength, "GET_NAME: unterminated name");
            FUZZ_CHECK_MSG(std::string_view(got, len) == std::string_view(s->name).substr(0, 63), "GET_NAME: wrong name");
        }
        if (reply.result == 0 && nr == uapi::kCmdSessionRetrieveFd)
            hold_file(std::move(reply.fd));
        return reply;
    }

    // The reply's shape (kernel-abi.md §1.2, §1.3).
    void check_reply(const Request& r, const IoctlReply& reply, bool device) const
    {
        FUZZ_CHECK_MSG(reply.result <= 0 && reply.result > -4096, "result " + std::to_string(reply.result));
        if (reply.result < 0) {
            FUZZ_CHECK(!reply.fd);
            FUZZ_CHECK(reply.new_session == nullptr);
            return;
        }
        unsigned nr = uapi::ioctl_nr(r.request);
        auto known = known_struct(nr);
        FUZZ_CHECK_MSG(known.has_value(), "success for unknown nr " + std::to_string(nr));
        FUZZ_CHECK_MSG(device == (nr < uapi::kCmdSessionPreserveFd), "success on the wrong fd type");
        FUZZ_CHECK_MSG(nr != uapi::kCmdSessionGetName || profile_.get_name, "GET_NAME before 7.2");
        // Every generic check passed.
        FUZZ_CHECK_MSG(r.request == uapi::ioctl_request(nr), "success for a wrongly encoded request");
        FUZZ_CHECK(!(r.flags & (wire::kFlagSizeFault | wire::kFlagBodyFault)));
        std::uint32_t size = r.size_field();
        FUZZ_CHECK_MSG(size >= known->min_size, "success with size " + std::to_string(size));
        if (size > known->size) {
            FUZZ_CHECK(!(r.flags & wire::kFlagTrailingNonZero));
            auto tail = r.arg().subspan(std::min(r.arg().size(), known->size));
            FUZZ_CHECK(std::all_of(tail.begin(), tail.end(), [](std::byte b) { return b == std::byte{0}; }));
        }
        // The whole known struct goes back; an fd where one is due.
        FUZZ_CHECK_MSG(reply.arg.size() == known->size, "copied out " + std::to_string(reply.arg.size()) + " bytes");
        bool returns_fd = nr == uapi::kCmdCreateSession || nr == uapi::kCmdRetrieveSession ||
                          nr == uapi::kCmdSessionRetrieveFd;
        FUZZ_CHECK(returns_fd == static_cast<bool>(reply.fd));
        FUZZ_CHECK(returns_fd ? reply.fd_offset == 4 : reply.fd_offset == -1);
        if (nr == uapi::kCmdSessionPreserveFd)
            FUZZ_CHECK_MSG(!(r.flags & wire::kFlagFdNotOpen), "PRESERVE_FD succeeded for an fd that is not open");
    }

    void check_created_name(const Request& r, const ModelSession& s) const
    {
        uapi::liveupdate_ioctl_create_session args{};
        std::memcpy(&args, r.arg().data(), std::min(r.arg().size(), sizeof args));
        std::size_t len = strnlen(reinterpret_cast<const char*>(args.name), uapi::kSessionNameLength);
        if (profile_.validates_names)
            FUZZ_CHECK_MSG(len > 0 && len < uapi::kSessionNameLength, "7.2 accepted an empty/unterminated name");
        std::string_view asked(reinterpret_cast<const char*>(args.name), std::min<std::size_t>(len, 63));
        FUZZ_CHECK_MSG(s.name == asked, "created session has another name");
    }

    void check_invariants() const
    {
        if (!core_)
            return;
        std::size_t outgoing = 0;
        std::vector<std::string> names;
        for (const auto& [seq, s] : core_->sessions()) {
            FUZZ_CHECK(seq == s.seq);
            if (!s.incoming) {
                ++outgoing;
                names.push_back(s.name);
            }
        }
        FUZZ_CHECK_MSG(outgoing == core_->outgoing_count(), "outgoing index out of step with the sessions");
        std::sort(names.begin(), names.end());
        FUZZ_CHECK_MSG(std::adjacent_find(names.begin(), names.end()) == names.end(), "two outgoing sessions share a name");
        for (const HeldSession& h : held_) {
            const ModelSession* s = core_->session_by_seq(h.seq);
            FUZZ_CHECK_MSG(s != nullptr && s->endpoint, "a session the driver holds lost its endpoint");
        }
    }

    // --- ops -------------------------------------------------------------------------

    HeldSession* pick_session(Reader& in)
    {
        std::uint8_t sel = in.u8();
        return held_.empty() ? nullptr : &held_[sel % held_.size()];
    }

    void device_raw(Reader& in)
    {
        Request r = raw_request(in);
        add_payload(r, in.u8());
        device(r);
    }

    void session_raw(Reader& in)
    {
        HeldSession* h = pick_session(in);
        Request r = raw_request(in);
        add_payload(r, in.u8());
        if (h)
            session(*h, r);
    }

    static void read_name(Reader& in, std::uint8_t (&name)[uapi::kSessionNameLength])
    {
        std::string s = in.string(in.u8() % (uapi::kSessionNameLength + 2));
        std::memcpy(name, s.data(), std::min(s.size(), sizeof name));
    }

    void create(Reader& in)
    {
        uapi::liveupdate_ioctl_create_session args{};
        args.size = sizeof args;
        read_name(in, args.name);
        Request r = struct_request(uapi::kCmdCreateSession, args);
        device(r);
    }

    void retrieve_session(Reader& in)
    {
        uapi::liveupdate_ioctl_retrieve_session args{};
        args.size = sizeof args;
        std::uint8_t sel = in.u8();
        if (sel < 0x80 && !names_.empty()) {
            const std::string& n = names_[sel % names_.size()];
            std::memcpy(args.name, n.data(), std::min(n.size(), sizeof args.name - 1));
        } else {
            read_name(in, args.name);
        }
        Request r = struct_request(uapi::kCmdRetrieveSession, args);
        device(r);
    }

    void preserve(Reader& in)
    {
        HeldSession* h = pick_session(in);
        uapi::liveupdate_session_preserve_fd args{};
        args.size = sizeof args;
        args.token = in.u8();
        Request r = struct_request(uapi::kCmdSessionPreserveFd, args);
        add_payload(r, in.u8());
        if (h) {
            bool had_payload = !r.payload.empty();
            IoctlReply reply = session(*h, r);
            if (!had_payload)
                FUZZ_CHECK_MSG(reply.result < 0, "PRESERVE_FD without a file succeeded");
        }
    }

    void retrieve_fd(Reader& in)
    {
        HeldSession* h = pick_session(in);
        uapi::liveupdate_session_retrieve_fd args{};
        args.size = sizeof args;
        args.token = in.u8();
        Request r = struct_request(uapi::kCmdSessionRetrieveFd, args);
        if (h)
            session(*h, r);
    }

    void finish(Reader& in)
    {
        HeldSession* h = pick_session(in);
        uapi::liveupdate_session_finish args{sizeof args, 0};
        Request r = struct_request(uapi::kCmdSessionFinish, args);
        if (h)
            session(*h, r);
    }

    void get_name(Reader& in)
    {
        HeldSession* h = pick_session(in);
        uapi::liveupdate_session_get_name args{};
        args.size = sizeof args;
        args.reserved = in.u8() ? 1 : 0;
        Request r = struct_request(uapi::kCmdSessionGetName, args);
        if (h)
            session(*h, r);
    }

    void close_session(Reader& in)
    {
        std::uint8_t sel = in.u8();
        if (held_.empty())
            return;
        auto it = held_.begin() + static_cast<std::ptrdiff_t>(sel % held_.size());
        std::uint64_t seq = it->seq;
        held_.erase(it);  // closes the client end
        ModelSession* s = core_->session_by_seq(seq);
        FUZZ_CHECK(s != nullptr);
        core_->session_closed(*s);
    }

    void reboot()
    {
        if (++reboots_ > kMaxReboots)
            return;
        Handover frozen;
        HandoverMemory memory;
        std::uint64_t previous_num = core_->liveupdate_num();
        if (int rc = core_->freeze(frozen, memory); rc < 0) {
            // Aborted: every session stays intact and usable.
            FUZZ_CHECK(memory.fds.empty());
            return;
        }
        std::vector<std::byte> blob = serialize_handover(frozen, profile_.luo_compatible);
        // The memory crosses the exec as inherited fds.
        std::vector<UniqueFd> inherited;
        for (int fd : memory.fds) {
            inherited.push_back(dup(fd));
            FUZZ_CHECK(inherited.back());
        }
        // Userspace ends, the old kernel goes away, the next one boots.
        held_.clear();
        files_.clear();
        names_.clear();
        core_ = std::make_unique<LuoCore>(profile_, max_blocks_, fixture_.handlers(profile_));
        Handover parsed;
        int rc = deserialize_handover(blob, profile_.luo_compatible, max_blocks_, luo::fuzz::data_size_of(*core_),
                                      parsed);
        FUZZ_CHECK_MSG(rc == 0, "the model cannot parse its own handover: " + std::to_string(rc));
        FUZZ_CHECK_MSG(luo::fuzz::same_handover(parsed, frozen), "handover changed in serialization");
        FUZZ_CHECK(parsed.liveupdate_num == previous_num + 1);
        bool empty_name = std::any_of(frozen.sessions.begin(), frozen.sessions.end(),
                                      [](const HandoverSession& s) { return s.name.empty(); });
        rc = core_->restore(parsed, std::move(inherited));
        if (rc < 0) {
            // Before 7.2 an empty session name is accepted but does not survive the kexec.
            FUZZ_CHECK_MSG(empty_name && !profile_.validates_names, "restore refused: " + std::to_string(rc));
            dead_ = true;  // the model now fails every open with EIO
            return;
        }
        FUZZ_CHECK(core_->liveupdate_num() == frozen.liveupdate_num);
        FUZZ_CHECK(core_->sessions().size() == frozen.sessions.size());
        auto restored = core_->sessions().begin();
        for (const HandoverSession& s : frozen.sessions) {  // in creation order
            const ModelSession& m = (restored++)->second;
            FUZZ_CHECK(m.incoming && !m.endpoint && m.name == s.name && m.in_files.size() == s.files.size());
            remember_name(s.name);
        }
    }

    void new_memfd(Reader& in)
    {
        std::uint64_t size = static_cast<std::uint64_t>(in.u16()) << 4;
        std::uint8_t seals = in.u8();
        UniqueFd fd = luo::fuzz::make_memfd("fuzz-memfd", size, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (!fd)
            return;
        static constexpr int kSeals[] = {F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE, F_SEAL_FUTURE_WRITE,
                                         uapi::kSealExec};
        int add = 0;
        for (unsigned i = 0; i < 6; ++i)
            if (seals & (1u << i))
                add |= kSeals[i];
        if (add)
            ::fcntl(fd.get(), F_ADD_SEALS, add);  // may be refused (F_SEAL_EXEC before 6.3)
        if (seals & 0x80)
            ::lseek(fd.get(), static_cast<off_t>(size / 2), SEEK_SET);
        hold_file(std::move(fd));
    }

    void drop_fd(Reader& in)
    {
        std::uint8_t sel = in.u8();
        if (!files_.empty())
            files_.erase(files_.begin() + static_cast<std::ptrdiff_t>(sel % files_.size()));
    }

    void endpoint_fail(Reader& in)
    {
        static constexpr int kErrnos[] = {EMFILE, ENFILE, ENOMEM};
        endpoint_failure_ = kErrnos[in.u8() % 3];
    }

    void hold_file(UniqueFd fd)
    {
        if (files_.size() >= kMaxHeldFiles)
            files_.erase(files_.begin());
        files_.push_back(std::move(fd));
    }

    void remember_name(const std::string& name)
    {
        if (std::find(names_.begin(), names_.end(), name) == names_.end() && names_.size() < 64)
            names_.push_back(name);
    }

    Profile profile_;
    std::uint32_t max_blocks_;
    luo::fuzz::ModelFixture& fixture_;
    std::unique_ptr<LuoCore> core_;
    std::vector<HeldSession> held_;
    std::vector<UniqueFd> files_;
    std::vector<std::string> names_;  // session names seen, for RETRIEVE_SESSION
    int endpoint_failure_ = 0;
    int reboots_ = 0;
    bool dead_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    luo::fuzz::ModelFixture::get();  // created before the fd baseline is taken
    int fd_baseline = luo::fuzz::lowest_free_fd();
    {
        Reader in(std::span(data, size));
        std::uint8_t config = in.u8();
        static constexpr const char* kProfiles[] = {"7.2", "7.1", "6.19", "7.2"};
        auto profile = find_profile(kProfiles[config & 3]);
        FUZZ_CHECK(profile.has_value());
        // Small block limits are a 7.2 notion: earlier profiles have fixed arrays, and
        // their handover only fits the default limit.
        std::uint32_t blocks = (config >> 2) & 3;
        std::uint32_t max_blocks = blocks == 0 || !profile->linked_blocks ? kDefaultMaxBlocks : blocks;
        Driver driver(std::move(*profile), max_blocks);
        driver.run(in);
    }
    FUZZ_CHECK_MSG(luo::fuzz::lowest_free_fd() == fd_baseline, "file descriptor leak");
    return 0;
}
