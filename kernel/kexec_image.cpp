// SPDX-License-Identifier: Apache-2.0
#include "kexec_image.h"

#include <unistd.h>

#include <cerrno>
#include <sstream>

namespace luo::kmodel {

namespace {
constexpr std::string_view kImageMagic = "LUO-KERNEL-MODEL-IMAGE";
constexpr std::size_t kMaxImageBytes = 64 * 1024;
}  // namespace

std::string default_release(const Profile& profile) { return profile.name + ".0-luo-model"; }

int parse_kexec_image(int fd, KexecImage& out)
{
    std::string text;
    char buf[4096];
    for (off_t at = 0; text.size() < kMaxImageBytes;) {
        ssize_t n = ::pread(fd, buf, sizeof buf, at);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EISDIR ? -EINVAL : -errno;
        }
        if (n == 0)
            break;
        text.append(buf, static_cast<std::size_t>(n));
        at += n;
    }
    std::istringstream in(text);
    std::string line;
    if (!std::getline(in, line) || line != kImageMagic)
        return -ENOEXEC;
    std::string profile_name, release;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#')
            continue;
        auto eq = line.find('=');
        if (eq == std::string::npos)
            return -ENOEXEC;
        std::string key = line.substr(0, eq), value = line.substr(eq + 1);
        if (key == "profile")
            profile_name = value;
        else if (key == "release")
            release = value;
    }
    auto profile = find_profile(profile_name.empty() ? std::string(kDefaultProfile) : profile_name);
    if (!profile)
        return -ENOEXEC;
    out.profile = *profile;
    out.release = release.empty() ? default_release(*profile) : release;
    return 0;
}

}  // namespace luo::kmodel
