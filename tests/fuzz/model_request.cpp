// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the model's parser of request datagrams (kernel/wire_request.h), the first
// thing that reads what any process sends the model's sockets. Input: one byte giving the
// number of fds that came with the datagram (0..7, as SCM_RIGHTS would deliver them), one
// byte whose low bit says the kernel truncated it, then the datagram's bytes.
//
// Asserted beyond "no crash, no leak": a request is accepted only when its header matches
// the datagram exactly (magic, version, argument length, fd count), its argument is the
// bytes after the header, the reply socket is the first fd and the payload the rest in
// order; a refused datagram keeps all its fds, and every fd is closed exactly once.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "fuzz_util.h"
#include "luo/model_wire.h"
#include "wire_request.h"

namespace {

namespace wire = luo::model_wire;
using luo::UniqueFd;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    int free_before = luo::fuzz::lowest_free_fd();
    {
        luo::fuzz::Reader in({data, size});
        std::size_t nfds = in.u8() % 8;
        bool truncated = in.u8() & 1;
        auto rest = in.bytes(in.remaining());

        wire::Datagram d;
        d.truncated = truncated;
        d.bytes.resize(rest.size());
        if (!rest.empty())
            std::memcpy(d.bytes.data(), rest.data(), rest.size());
        std::vector<int> numbers;
        for (std::size_t i = 0; i < nfds; ++i) {
            d.fds.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
            FUZZ_CHECK(d.fds.back());
            numbers.push_back(d.fds.back().get());
        }

        luo::kmodel::WireRequest req;
        bool ok = luo::kmodel::parse_request(d, req);

        wire::RequestHeader h{};
        bool header_fits = d.bytes.size() >= sizeof h;
        if (header_fits)
            std::memcpy(&h, d.bytes.data(), sizeof h);
        bool expected = !truncated && header_fits && nfds >= 1 && h.magic == wire::kMagic &&
                        h.version == wire::kVersion && h.arg_len <= wire::kMaxArgBytes &&
                        d.bytes.size() == sizeof h + h.arg_len && h.nfds == nfds - 1;
        FUZZ_CHECK(ok == expected);
        if (ok) {
            FUZZ_CHECK(std::memcmp(&req.header, &h, sizeof h) == 0);
            FUZZ_CHECK(req.arg.size() == h.arg_len);
            FUZZ_CHECK(req.arg.data() == d.bytes.data() + sizeof h);
            FUZZ_CHECK(req.reply.get() == numbers.front());
            FUZZ_CHECK(req.payload.size() == nfds - 1);
            for (std::size_t i = 0; i < req.payload.size(); ++i)
                FUZZ_CHECK(req.payload[i].get() == numbers[i + 1]);
        } else {
            FUZZ_CHECK(!req.reply && req.payload.empty());
            FUZZ_CHECK(d.fds.size() == nfds);
            for (std::size_t i = 0; i < nfds; ++i)
                FUZZ_CHECK(d.fds[i].get() == numbers[i]);
        }
    }
    FUZZ_CHECK_MSG(luo::fuzz::lowest_free_fd() == free_before, "an fd leaked");
    return 0;
}
