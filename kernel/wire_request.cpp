// SPDX-License-Identifier: Apache-2.0
#include "wire_request.h"

#include <cstring>

namespace luo::kmodel {

namespace wire = luo::model_wire;

bool parse_request(wire::Datagram& d, WireRequest& out)
{
    wire::RequestHeader header;
    if (d.truncated || d.bytes.size() < sizeof header || d.fds.empty())
        return false;
    std::memcpy(&header, d.bytes.data(), sizeof header);
    if (header.magic != wire::kMagic || header.version != wire::kVersion || header.arg_len > wire::kMaxArgBytes ||
        d.bytes.size() != sizeof header + header.arg_len || header.nfds != d.fds.size() - 1)
        return false;
    out.header = header;
    out.arg = std::span<const std::byte>(d.bytes).subspan(sizeof header);
    out.reply = std::move(d.fds.front());
    out.payload.clear();
    for (std::size_t i = 1; i < d.fds.size(); ++i)
        out.payload.push_back(std::move(d.fds[i]));
    return true;
}

}  // namespace luo::kmodel
