// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the handover deserializer (kernel/handover.h deserialize_handover), on the
// blob a previous "kernel" left, as the model reads it at boot (Model::restore_handover).
//
// The input is the blob. It is parsed for every profile (the 7.2 "luo-v5" layout and the
// "luo-v1" stamp of 6.19/7.1, whose memfd data differ in size) with the handlers the model
// registers. What parses must serialize back to a blob that parses to the same handover;
// then it is restored into a LuoCore with preserved memory (memfds of known sizes, see
// kHandoverMemorySizes) and used as the next userspace would: every session retrieved,
// every file retrieved, names read back, sessions finished and closed.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "luo/uapi.h"
#include "model_fixture.h"
#include "model_program.h"

namespace {

using namespace luo::kmodel;
using luo::UniqueFd;
namespace uapi = luo::uapi;

template <typename T>
IoctlRequest request(unsigned nr, const T& args, std::vector<std::byte>& buffer)
{
    // A buffer with room before the argument, as the model's datagram has a header there.
    buffer.assign(sizeof(std::uint64_t) + sizeof args, std::byte{0});
    std::memcpy(buffer.data() + sizeof(std::uint64_t), &args, sizeof args);
    return IoctlRequest{uapi::ioctl_request(nr), 0, std::span<const std::byte>(buffer).subspan(sizeof(std::uint64_t)),
                        {}};
}

int make_endpoint(UniqueFd& model_end, UniqueFd& client_end, ino_t& client_inode)
{
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        return -errno;
    model_end.reset(sv[0]);
    client_end.reset(sv[1]);
    client_inode = 0;
    return 0;
}

// Boots a core from the handover and uses every session and file in it.
void restore_and_use(const Profile& profile, const Handover& handover)
{
    auto& fixture = luo::fuzz::ModelFixture::get();
    LuoCore core(profile, kDefaultMaxBlocks, fixture.handlers(profile));
    std::vector<UniqueFd> memory;
    for (std::uint64_t size : luo::fuzz::kHandoverMemorySizes) {
        memory.push_back(luo::fuzz::make_memfd("fuzz-preserved", size));
        FUZZ_CHECK(memory.back());
    }
    int rc = core.restore(handover, std::move(memory));
    FUZZ_CHECK_MSG(rc <= 0 && rc > -4096, std::to_string(rc));
    if (rc < 0) {
        FUZZ_CHECK(core.sessions().empty());
        return;
    }
    FUZZ_CHECK(core.liveupdate_num() == handover.liveupdate_num);
    FUZZ_CHECK(core.sessions().size() == handover.sessions.size());
    std::vector<std::byte> buffer;
    for (const HandoverSession& hs : handover.sessions) {
        uapi::liveupdate_ioctl_retrieve_session rs{};
        rs.size = sizeof rs;
        std::memcpy(rs.name, hs.name.data(), std::min(hs.name.size(), sizeof rs.name - 1));
        IoctlReply reply = core.device_ioctl(request(uapi::kCmdRetrieveSession, rs, buffer), make_endpoint);
        FUZZ_CHECK_MSG(reply.result == 0 && reply.new_session, "a restored session cannot be retrieved");
        ModelSession& s = *reply.new_session;
        FUZZ_CHECK(s.incoming && s.name == hs.name && s.in_files.size() == hs.files.size());
        UniqueFd session_fd = std::move(reply.fd);

        std::vector<UniqueFd> files;
        for (const HandoverFile& hf : hs.files) {
            uapi::liveupdate_session_retrieve_fd rf{};
            rf.size = sizeof rf;
            rf.token = hf.token;
            IoctlReply r = core.session_ioctl(s, request(uapi::kCmdSessionRetrieveFd, rf, buffer));
            FUZZ_CHECK_MSG(r.result <= 0 && r.result > -4096, std::to_string(r.result));
            FUZZ_CHECK(static_cast<bool>(r.fd) == (r.result == 0));
            if (r.fd)
                files.push_back(std::move(r.fd));
        }
        if (profile.get_name) {
            uapi::liveupdate_session_get_name gn{};
            gn.size = sizeof gn;
            IoctlReply r = core.session_ioctl(s, request(uapi::kCmdSessionGetName, gn, buffer));
            FUZZ_CHECK(r.result == 0 && r.arg.size() == sizeof gn);
            std::memcpy(&gn, r.arg.data(), sizeof gn);
            FUZZ_CHECK(std::string(reinterpret_cast<const char*>(gn.name)) == hs.name);
        }
        uapi::liveupdate_session_finish fin{sizeof fin, 0};
        IoctlReply r = core.session_ioctl(s, request(uapi::kCmdSessionFinish, fin, buffer));
        FUZZ_CHECK_MSG(r.result == 0 || r.result == -EBUSY, std::to_string(r.result));
        core.session_closed(s);
    }
}

void parse_as(const Profile& profile, std::span<const std::byte> blob)
{
    auto& fixture = luo::fuzz::ModelFixture::get();
    // The receiving kernel's handlers decide the data sizes.
    LuoCore receiver(profile, kDefaultMaxBlocks, fixture.handlers(profile));
    auto data_size = luo::fuzz::data_size_of(receiver);
    Handover parsed;
    parsed.liveupdate_num = 0xdeadbeef;  // must stay untouched on failure
    int rc = deserialize_handover(blob, profile.luo_compatible, kDefaultMaxBlocks, data_size, parsed);
    FUZZ_CHECK_MSG(rc == 0 || rc == -EINVAL || rc == -ENOENT, std::to_string(rc));
    if (rc < 0) {
        FUZZ_CHECK(parsed.liveupdate_num == 0xdeadbeef && parsed.sessions.empty());
        return;
    }
    for (const HandoverSession& s : parsed.sessions) {
        FUZZ_CHECK(s.name.size() < uapi::kSessionNameLength && s.name.find('\0') == std::string::npos);
        for (const HandoverFile& f : s.files) {
            FUZZ_CHECK(f.compatible.size() < kCompatibleLength);
            FUZZ_CHECK(f.data.size() == receiver.handler(f.compatible)->data_size());
        }
    }
    // Round trip: what the model would write for this handover parses back the same.
    std::vector<std::byte> again = serialize_handover(parsed, profile.luo_compatible);
    Handover reparsed;
    FUZZ_CHECK(deserialize_handover(again, profile.luo_compatible, kDefaultMaxBlocks, data_size, reparsed) == 0);
    FUZZ_CHECK_MSG(luo::fuzz::same_handover(parsed, reparsed), "serialize(deserialize(blob)) parses differently");
    FUZZ_CHECK(serialize_handover(reparsed, profile.luo_compatible) == again);

    restore_and_use(profile, parsed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    luo::fuzz::ModelFixture::get();  // created before the fd baseline is taken
    int fd_baseline = luo::fuzz::lowest_free_fd();
    auto blob = std::as_bytes(std::span(data, size));
    for (const char* name : {"7.2", "7.1", "6.19"}) {
        auto profile = find_profile(name);
        FUZZ_CHECK(profile.has_value());
        parse_as(*profile, blob);
    }
    FUZZ_CHECK_MSG(luo::fuzz::lowest_free_fd() == fd_baseline, "file descriptor leak");
    return 0;
}
