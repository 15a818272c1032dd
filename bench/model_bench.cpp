// SPDX-License-Identifier: Apache-2.0
// bench-model: what luo-kernel-model costs.
//  1. round trips per second of "create session + preserve memfd + close session";
//  2. wall time to carry a 1 GiB memfd across a model kexec (reboot request to the next
//     kernel answering, and to the memfd retrieved in it).
// Usage: bench-model [--iterations N] [--size-mib M]
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "harness.h"
#include "luo/device.h"
#include "luo/kexec.h"
#include "luo/uapi.h"

using namespace luo;
using namespace luo::test;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void bench_round_trips(int iterations)
{
    ModelProcess model({"7.2"});
    Device dev = Device::open(model.root());
    UniqueFd memfd = make_memfd("bench", "payload");
    for (int i = 0; i < 200; ++i) {  // warm-up
        Session s = dev.create_session("warm");
        s.preserve_fd(memfd.get(), 1);
    }
    auto start = Clock::now();
    for (int i = 0; i < iterations; ++i) {
        Session s = dev.create_session("bench");
        s.preserve_fd(memfd.get(), 1);
    }  // closing unpreserves: the same memfd and name are reused
    double t = seconds_since(start);
    std::printf("model round trips (create session + preserve memfd + close): %d in %.3f s = %.0f/s (%.1f us each)\n",
                iterations, t, iterations / t, t / iterations * 1e6);

    Session s = dev.create_session("get-name");
    start = Clock::now();
    for (int i = 0; i < iterations; ++i)
        s.get_name();
    t = seconds_since(start);
    std::printf("single ioctl round trips (GET_NAME): %.0f/s (%.1f us each)\n", iterations / t, t / iterations * 1e6);
}

void bench_kexec(std::size_t mib)
{
    const std::size_t size = mib << 20;
    ModelProcess model({"7.2"});
    ReadySignal ready;
    pid_t holder = spawn([&]() -> int {
        UniqueFd memfd = make_memfd("guest-ram");
        if (::ftruncate(memfd.get(), static_cast<off_t>(size)) < 0)
            return 1;
        void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd.get(), 0);
        if (map == MAP_FAILED)
            return 1;
        std::memset(map, 0x5a, size);  // every page real, like guest memory
        ::munmap(map, size);
        Device dev = Device::open(model.root());
        Session s = dev.create_session("vm-ram");
        s.preserve_fd(memfd.get(), 1);
        ready.notify();
        sleep_forever();
    });
    if (!ready.wait()) {
        std::printf("kexec benchmark: setup failed\n");
        return;
    }
    model.load_kernel("7.2");
    auto start = Clock::now();
    if (model.kexec_reboot() != 0) {
        std::printf("kexec benchmark: reboot failed\n");
        return;
    }
    double booted = seconds_since(start);
    Device dev = Device::open(model.root());
    Session s = dev.retrieve_session("vm-ram");
    UniqueFd ram = s.retrieve_fd(1);
    double retrieved = seconds_since(start);
    char byte = 0;
    bool intact = ::pread(ram.get(), &byte, 1, static_cast<off_t>(size - 1)) == 1 && byte == 0x5a;
    wait_exit(holder);
    std::printf("model kexec carrying a %zu MiB memfd: next kernel up after %.1f ms, memfd retrieved after %.1f ms "
                "(%s)\n",
                mib, booted * 1e3, retrieved * 1e3, intact ? "contents intact" : "CONTENTS LOST");
}

}  // namespace

int main(int argc, char** argv)
{
    int iterations = 20000;
    std::size_t mib = 1024;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--iterations") == 0)
            iterations = std::stoi(argv[i + 1]);
        else if (std::strcmp(argv[i], "--size-mib") == 0)
            mib = std::stoul(argv[i + 1]);
    }
    try {
        bench_round_trips(iterations);
        bench_kexec(mib);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench-model: %s\n", e.what());
        return 1;
    }
    return 0;
}
