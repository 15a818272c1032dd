// SPDX-License-Identifier: Apache-2.0
// Sparing luod from systemd-shutdown's final killing spree, for the orderly kexec on
// systemd 252–260 (docs/systemd.md). After PID 1 has stopped the units of a shutdown it
// executes systemd-shutdown, which sends SIGTERM and then SIGKILL to every process left,
// except kernel threads and root processes whose argv[0] starts with '@'
// (systemd.io/ROOT_STORAGE_DAEMONS, src/shared/killall.c since before 252). luod marks itself
// so only while a kexec is under way: it must then hold its session fds until the kernel's
// reboot(LINUX_REBOOT_CMD_KEXEC), which systemd-shutdown calls; the sessions end otherwise.
#pragma once

namespace luod {

class KillSpreeExemption {
public:
    // `argv0`: main()'s argv[0], whose first character /proc/<pid>/cmdline shows; null
    // (tests, an empty argv[0]) makes an exemption that cannot be had.
    explicit KillSpreeExemption(char* argv0 = nullptr);

    [[nodiscard]] bool possible() const { return argv0_ != nullptr; }
    [[nodiscard]] bool held() const { return held_; }
    // argv[0][0] = '@' (the original character is kept); false when not possible.
    bool take();
    // The original argv[0] again.
    void give_back();

private:
    char* argv0_ = nullptr;
    char original_ = '\0';
    bool held_ = false;
};

}  // namespace luod
