// SPDX-License-Identifier: Apache-2.0
// bench-luod: what going through luod costs a service preserving memfds.
//  - libluo directly on the model (the floor: one ioctl per file);
//  - luod's Session.PreserveFd over a real dbus-daemon, one file per call;
//  - luod's Session.PreserveFds, 16 files per call (the system bus's fd limit).
// Usage: bench-luod [--files N]   (N memfds per measurement, default 4000)
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "direct_preserve.h"
#include "harness.h"
#include "luo/client.h"
#include "luo/device.h"
#include "luod_harness.h"

using namespace luo;
using namespace luo::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kFilesPerSession = 500;

std::vector<UniqueFd> memfds(int n)
{
    std::vector<UniqueFd> out;
    for (int i = 0; i < n; ++i)
        out.push_back(make_memfd("bench", "x"));
    return out;
}

void report(const char* what, int files, int calls, double seconds)
{
    std::printf("%-44s %6d files in %7.3f s: %8.0f files/s, %8.0f calls/s (%.1f us per call)\n", what, files, seconds,
                files / seconds, calls / seconds, seconds / calls * 1e6);
}

void direct(int files)
{
    report("libluo directly (ioctl on the model)", files, files, files / luo::bench::direct_preserve_rate(files));
}

void through_luod(int files, bool batched)
{
    ModelProcess model({"7.2"});
    SystemBus bus;
    LuodOptions options;
    options.config = "[Sessions]\nMaxFilesPerSession=100000\n[Daemon]\nManifestSizeMiB=64\n";
    LuodProcess luod(model, bus, options);
    Client client = Client::connect(bus.address());  // what a service would use
    auto fds = memfds(files);
    int calls = 0;
    ClientSession session;
    auto start = Clock::now();
    for (int i = 0; i < files;) {
        if (i % kFilesPerSession == 0)
            session = client.create_session("bench-" + std::to_string(i / kFilesPerSession));
        if (batched) {
            std::vector<std::pair<int, std::string>> batch;
            for (int k = 0; k < 16 && i < files && (batch.empty() || i % kFilesPerSession != 0); ++k, ++i)
                batch.emplace_back(fds[static_cast<std::size_t>(i)].get(), "f" + std::to_string(i));
            session.preserve(batch);
        } else {
            session.preserve(fds[static_cast<std::size_t>(i)].get(), "f" + std::to_string(i));
            ++i;
        }
        ++calls;
    }
    report(batched ? "luod PreserveFds, 16 per call (D-Bus)" : "luod PreserveFd, one per call (D-Bus)", files, calls,
           std::chrono::duration<double>(Clock::now() - start).count());
}

}  // namespace

int main(int argc, char** argv)
{
    int files = 4000;
    for (int i = 1; i + 1 < argc; i += 2)
        if (std::strcmp(argv[i], "--files") == 0)
            files = std::stoi(argv[i + 1]);
    raise_fd_limit(static_cast<std::size_t>(files) + 1024);
    try {
        direct(files);
        through_luod(files, false);
        through_luod(files, true);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench-luod: %s\n", e.what());
        return 1;
    }
    return 0;
}
