// SPDX-License-Identifier: Apache-2.0
// The model's answer to a request (model_wire.h): sent on the request's own reply socket.
#pragma once

#include <cstddef>
#include <span>

namespace luo::kmodel {

// The result, the reply's argument bytes and at most one fd (placed at `fd_offset` of the
// argument). A caller that is gone is not an error.
void send_reply(int reply_sock, int result, std::span<const std::byte> arg = {}, int fd_offset = -1, int fd = -1);

}  // namespace luo::kmodel
