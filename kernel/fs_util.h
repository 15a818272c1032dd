// SPDX-License-Identifier: Apache-2.0
// Small filesystem helpers for the model's pseudo files under its root.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace luo::kmodel {

// Replaces `path` with `content` by write-to-temporary and rename, so readers (and
// inotify watchers) never see a half-written file. Creates parent directories. Throws
// luo::Error.
void write_file_atomic(const std::filesystem::path& path, std::string_view content, mode_t mode = 0644);

// Whole file as a string; throws luo::Error.
std::string read_file(const std::filesystem::path& path);

}  // namespace luo::kmodel
