// SPDX-License-Identifier: Apache-2.0
// luo-vm-unit: a service for the systemd VM test (tests/vm/systemd), in one of two roles:
//   fdstore NAME TEXT     a plain unit with FileDescriptorStorePreserve=yes: keeps a memfd
//                         holding TEXT in its fd store, or says what came back in LISTEN_FDS;
//   luosession NAME TEXT  a unit with LUOSession=NAME: preserves a memfd holding TEXT in the
//                         session systemd hands it, or, when the session came back across a
//                         kexec, reads the memfd, finishes the session and drops it from the
//                         store (the restart that follows gets a fresh session from systemd).
// It prints what it found ("carried NAME: TEXT") for the scenario to read in the journal.
#include <sys/mman.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "luo/device.h"
#include "luo/error.h"
#include "luo/unique_fd.h"

namespace {

std::string read_fd(int fd)
{
    std::string out;
    char buf[4096];
    for (off_t at = 0;;) {
        ssize_t n = ::pread(fd, buf, sizeof buf, at);
        if (n <= 0)
            return out;
        out.append(buf, static_cast<std::size_t>(n));
        at += n;
    }
}

luo::UniqueFd memfd_with(const std::string& text)
{
    luo::UniqueFd fd(::memfd_create("luo-vm-unit", MFD_CLOEXEC));
    if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        std::perror("memfd");
        std::exit(1);
    }
    return fd;
}

// The fd named `name` in LISTEN_FDS, or an invalid one.
luo::UniqueFd listen_fd(const std::string& name)
{
    char** names = nullptr;
    int n = sd_listen_fds_with_names(1, &names);
    luo::UniqueFd found;
    for (int i = 0; i < n; ++i) {
        if (names && names[i] && name == names[i])
            found = luo::UniqueFd(SD_LISTEN_FDS_START + i);
        else
            ::close(SD_LISTEN_FDS_START + i);
    }
    if (names) {
        for (int i = 0; i < n; ++i)
            std::free(names[i]);
        std::free(names);
    }
    return found;
}

[[noreturn]] void serve()
{
    sd_notify(0, "READY=1");
    for (;;)
        ::pause();
}

int fdstore(const std::string& name, const std::string& text)
{
    if (luo::UniqueFd back = listen_fd(name)) {
        std::printf("carried %s: %s\n", name.c_str(), read_fd(back.get()).c_str());
        std::fflush(stdout);
        serve();  // it stays in the store: systemd carries it across the next kexec too
    }
    luo::UniqueFd fd = memfd_with(text);
    int raw = fd.get();
    if (sd_pid_notify_with_fds(0, 0, ("FDSTORE=1\nFDNAME=" + name).c_str(), &raw, 1) <= 0) {
        std::fprintf(stderr, "FDSTORE failed\n");
        return 1;
    }
    std::printf("stored %s: %s\n", name.c_str(), text.c_str());
    std::fflush(stdout);
    serve();
}

int luosession(const std::string& name, const std::string& text)
{
    luo::UniqueFd fd = listen_fd(name);
    if (!fd) {
        std::fprintf(stderr, "systemd handed out no LUO session '%s'\n", name.c_str());
        return 1;
    }
    // /run does not survive the kexec: a marker there means the session is this boot's own.
    std::filesystem::path marker = "/run/luo-vm-unit-" + name;
    if (!std::filesystem::exists(marker)) {
        luo::Session incoming(luo::UniqueFd(::dup(fd.get())), luo::SessionKind::incoming);
        try {
            luo::UniqueFd memfd = incoming.retrieve_fd(1);
            std::printf("carried %s: %s\n", name.c_str(), read_fd(memfd.get()).c_str());
            memfd.reset();
            incoming.finish();
            std::printf("finished %s\n", name.c_str());
            std::fflush(stdout);
            sd_notify(0, ("FDSTOREREMOVE=1\nFDNAME=" + name).c_str());
            // systemd takes notifications from the main process only while it lives.
            sd_notify_barrier(0, 5'000'000);
            return 0;  // Restart=always: the next start gets a new session
        } catch (const luo::Error& e) {
            // An outgoing session: not from the last boot.
        }
        luo::Session outgoing(std::move(fd), luo::SessionKind::outgoing);
        luo::UniqueFd memfd = memfd_with(text);
        outgoing.preserve_fd(memfd.get(), 1);
        std::ofstream(marker) << "preserved\n";
        std::printf("preserved %s: %s\n", name.c_str(), text.c_str());
        std::fflush(stdout);
        (void)outgoing.release();  // systemd's store holds the session; this copy may go
    }
    serve();
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: luo-vm-unit fdstore|luosession NAME TEXT\n");
        return 2;
    }
    std::string role = argv[1];
    try {
        if (role == "fdstore")
            return fdstore(argv[2], argv[3]);
        if (role == "luosession")
            return luosession(argv[2], argv[3]);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "luo-vm-unit: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "luo-vm-unit: unknown role '%s'\n", role.c_str());
    return 2;
}
