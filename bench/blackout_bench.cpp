// SPDX-License-Identifier: Apache-2.0
// bench-blackout: luod's share of a live update's blackout on the kernel model, for 1, 100
// and 1000 sessions (one 1 MiB memfd each):
//   before the reboot  Update() requested -> the model receives reboot(KEXEC)
//                      (checks, barrier with no inhibitors, manifest, the call);
//   the model's kexec  reboot request -> the next kernel is up (freeze, serialize, end
//                      userspace, exec, restore) — the "kernel's" share, for context;
//   after the boot     luod's first start in the new kernel -> restore ready.
// How long init takes to start luod again is the harness's, not luod's, and is left out.
// Usage: bench-blackout [--sessions N,...]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sdbus-c++/sdbus-c++.h>
#include <sstream>
#include <thread>

#include "eventually.h"
#include "harness.h"
#include "luo/client.h"
#include "luo/dbus_api.h"
#include "luo/model_control.h"
#include "luod_harness.h"

using namespace luo;
using namespace luo::test;
using nlohmann::json;

namespace {

std::uint64_t now_usec()
{
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

void measure(int sessions, bool report_it = true)
{
    ModelOptions mo("7.2");
    mo.machine = true;
    ModelProcess model(mo);
    SystemBus bus;
    LuodOptions options;
    options.config = "[Sessions]\nMaxSessionsPerUser=100000\n[Daemon]\nManifestSizeMiB=32\n";
    LuodProcess luod(model, bus, options);
    {
        Client client = Client::connect(bus.address());
        for (int i = 0; i < sessions; ++i) {
            UniqueFd memfd = make_memfd("ram");
            if (::ftruncate(memfd.get(), 1 << 20) < 0)
                throw std::runtime_error("ftruncate");
            client.create_session("vm-" + std::to_string(i)).preserve(memfd.get(), "ram");
        }
    }
    auto image = model.root().parent_path() / (model.root().filename().native() + "-vmlinuz");
    model::write_kernel_image(image, "7.2");
    LuodClient c(bus.address());
    c.manager().callMethod("LoadKernel").onInterface(dbus::kManagerInterface)
        .withArguments(image.native(), std::string(), std::string(), std::map<std::string, sdbus::Variant>{});
    std::string boot = model.boot_id();
    std::uint64_t requested = now_usec();
    c.manager().callMethod("Update").onInterface(dbus::kManagerInterface).withArguments(std::map<std::string, sdbus::Variant>{});
    model.wait_for_boot(boot);
    luod.wait_exit();
    luod.notify().replace_store();
    luod.start();
    json report;
    (void)eventually(
        [&] {
            report = json::parse(c.manager_string("LastUpdate"));
            return report.value("result", "") == "success";
        },
        std::chrono::seconds(30), std::chrono::milliseconds(5));  // the report says what it got
    json kexec = json::parse(model::status_json(model.root()))["kexec"];
    const json& p = report["phases"];
    double before = (kexec["reboot_request_usec"].get<double>() - static_cast<double>(requested)) / 1000;
    double kernel = (kexec["booted_usec"].get<double>() - kexec["reboot_request_usec"].get<double>()) / 1000;
    double after = (p["restore_ready"].get<double>() - p["first_start"].get<double>()) / 1000;
    luod.stop();
    if (!report_it)
        return;
    {
        std::string log = luod.log(), last;
        for (std::size_t at = log.find("start-up: "); at != std::string::npos; at = log.find("start-up: ", at + 1))
            last = log.substr(at, log.find('\n', at) - at);
        std::printf("  %s\n", last.c_str());
    }
    std::printf("%5d sessions: before the reboot %7.1f ms | model kexec %7.1f ms | after the boot %7.1f ms | "
                "luod's share %7.1f ms\n",
                sessions, before, kernel, after, before + after);
}

}  // namespace

int main(int argc, char** argv)
{
    std::vector<int> counts{1, 100, 1000};
    for (int i = 1; i + 1 < argc; i += 2)
        if (std::strcmp(argv[i], "--sessions") == 0) {
            counts.clear();
            std::stringstream list(argv[i + 1]);
            for (std::string n; std::getline(list, n, ',');)
                counts.push_back(std::stoi(n));
        }
    raise_fd_limit(16384);
    try {
        // The reboot path calls sync(): the first round also flushes whatever the machine had
        // dirty (the build, say). That round is not reported.
        measure(1, false);
        std::printf("(the barrier had no inhibitors; 'before the reboot' includes sync(2))\n");
        for (int n : counts)
            measure(n);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench-blackout: %s\n", e.what());
        return 1;
    }
    return 0;
}
