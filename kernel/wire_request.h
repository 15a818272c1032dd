// SPDX-License-Identifier: Apache-2.0
// A request datagram as the model's server receives it (model_wire.h): the header checked
// against the datagram's bytes and fds, then split into argument, reply socket and payload.
// The one parser of what a (possibly hostile) process sends the model.
#pragma once

#include <span>
#include <vector>

#include "luo/model_wire.h"
#include "luo/unique_fd.h"

namespace luo::kmodel {

struct WireRequest {
    model_wire::RequestHeader header{};
    std::span<const std::byte> arg;  // points into the datagram's bytes
    UniqueFd reply;
    std::vector<UniqueFd> payload;
};

// Returns false, taking nothing, for a datagram that is truncated, too short, of another
// magic or version, or whose lengths or fd count disagree with its header. On success
// `out` owns the datagram's fds and its `arg` refers to `d.bytes`.
bool parse_request(model_wire::Datagram& d, WireRequest& out);

}  // namespace luo::kmodel
