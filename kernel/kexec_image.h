// SPDX-License-Identifier: Apache-2.0
// The kernel images kexec_file_load accepts on the model: a small text file naming the
// release the model becomes after the kexec (libluo's luo::model::write_kernel_image
// writes them):
//     LUO-KERNEL-MODEL-IMAGE
//     profile=7.2
//     release=7.2.0-luo-model        (optional)
// Anything else is refused with ENOEXEC, as the kernel refuses an unknown image format.
#pragma once

#include <string>

#include "profile.h"

namespace luo::kmodel {

struct KexecImage {
    Profile profile;
    std::string release;
    std::string cmdline;
};

// Parses the image from an open file. Returns 0 or -errno (ENOEXEC: not a model image).
int parse_kexec_image(int fd, KexecImage& out);

// The release string a profile reports when the image names none.
std::string default_release(const Profile& profile);

}  // namespace luo::kmodel
