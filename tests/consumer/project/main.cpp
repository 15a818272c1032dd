// SPDX-License-Identifier: Apache-2.0
// A program outside the luod tree using the installed libluo: it prints the version it was
// built against and the libluo it loaded, and calls the library without needing luod or a
// LUO device (both are expected to be absent and must fail the documented way).
#include <dlfcn.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "luo/client.h"
#include "luo/device.h"
#include "luo/error.h"

namespace {

int failures = 0;

void check(bool ok, const std::string& what)
{
    std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
    if (!ok)
        ++failures;
}

}  // namespace

int main()
{
    // Where the dynamic loader found libluo: the test checks it is the installed copy.
    Dl_info info{};
    const std::string errno_name = luo::errno_name(EBUSY);
    if (::dladdr(reinterpret_cast<void*>(&luo::errno_name), &info) == 0 || info.dli_fname == nullptr)
        info.dli_fname = "?";
    std::printf("luo-consumer: built against luo %s via %s, loaded %s\n", LUO_CONSUMER_VERSION,
                LUO_CONSUMER_VIA, info.dli_fname);

    check(errno_name == "EBUSY", "luo::errno_name(EBUSY) is \"" + errno_name + "\"");
    check(std::string(luo::to_string(luo::Transport::model)) == "model", "luo::to_string(Transport::model)");

    try {
        luo::Device::open("/nonexistent/luo-consumer");
        check(false, "Device::open without a device throws");
    } catch (const luo::Error& e) {
        check(e.errno_value() == ENOENT, std::string("Device::open without a device: ") + e.what());
    }

    // Exercises libluo's private D-Bus library without a bus.
    try {
        luo::Client::connect("unix:path=/nonexistent/luo-consumer-bus");
        check(false, "Client::connect to a missing bus throws");
    } catch (const luo::ClientError& e) {
        check(!e.name().empty(), "Client::connect to a missing bus: " + e.name());
    }
    return failures == 0 ? 0 : 1;
}
