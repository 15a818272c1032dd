// SPDX-License-Identifier: Apache-2.0
// One luod under test: a kernel model, a private system bus, luod with its fd store, a client.
#pragma once

#include <algorithm>
#include <cstdio>
#include <pwd.h>
#include <vector>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "eventually.h"
#include "harness.h"
#include "luo/client.h"
#include "luo/model_control.h"
#include "luod_harness.h"

namespace luo::test {

// A model whose kexec ends a simulated machine's processes but spares the test process,
// which holds luod's fd store as a service manager would.
inline ModelOptions machine(std::string profile = "7.2")
{
    ModelOptions m(std::move(profile));
    m.machine = true;
    return m;
}

// Unprivileged accounts with a passwd entry (the system bus admits no other), nobody first.
inline std::vector<uid_t> unprivileged_uids(std::size_t wanted)
{
    std::vector<uid_t> out{nobody_uid()};
    ::setpwent();
    while (passwd* pw = ::getpwent())
        if (pw->pw_uid != 0 && pw->pw_uid != nobody_uid() && out.size() < wanted)
            out.push_back(pw->pw_uid);
    ::endpwent();
    return out;
}

struct Luod {
    explicit Luod(LuodOptions options = {}, ModelOptions model_options = {})
        : model(std::move(model_options)), luod(model, bus, std::move(options)), client(bus.address())
    {
    }

    // luod's open fds once every earlier request is done: a call carrying no fds is answered
    // only after the previous handlers (and their fds) are gone.
    std::size_t settled_fd_count()
    {
        client.manager_u32("Sessions");
        return luod.fd_count();
    }

    // As root, closes every session but those in `keep`, then waits until luod holds `fds`
    // fds again (an fd-leak check); returns what it holds at the end.
    std::size_t close_sessions_except(const std::vector<std::string>& keep, std::size_t fds)
    {
        for (const std::string& name : client.list_session_names())
            if (std::find(keep.begin(), keep.end(), name) == keep.end())
                client.close(name);
        std::size_t held = 0;
        (void)eventually([&] { return (held = settled_fd_count()) == fds; }, std::chrono::seconds(30));
        return held;
    }

    // A kernel image of `profile` for the model, beside its root.
    std::string kernel_image(const std::string& profile = "7.2") const
    {
        auto path = model.root().parent_path() / (model.root().filename().native() + "-vmlinuz-" + profile);
        model::write_kernel_image(path, profile);
        return path.native();
    }

    // After luod kexec'd the model: the next kernel is up, luod ended with the old one, and the
    // service manager starts it again with an empty store (a new boot). Returns how luod ended.
    int next_boot(const std::string& boot_before, bool expect_ready = true)
    {
        model.wait_for_boot(boot_before);
        int status = luod.wait_exit();
        luod.notify().replace_store();
        luod.start(expect_ready);
        return status;
    }

    // As nobody, through libluo's client: a session `name` with one memfd `label` holding
    // `text`. True when every step succeeded.
    bool nobody_preserves(const std::string& name, const std::string& label, const std::string& text)
    {
        return run_as_nobody([&] {
                   Client c = Client::connect(bus.address());
                   ClientSession s = c.create_session(name);
                   UniqueFd m = make_memfd("m", text);
                   s.preserve(m.get(), label);
                   return 0;
               }) == 0;
    }

    // The kernel model's view: outgoing sessions by name, with their tokens.
    std::map<std::string, std::vector<std::uint64_t>> kernel_sessions() const
    {
        auto status = nlohmann::json::parse(model::status_json(model.root()));
        std::map<std::string, std::vector<std::uint64_t>> out;
        for (const auto& s : status["outgoing"]) {
            auto& tokens = out[s["name"]];
            for (const auto& f : s["files"])
                tokens.push_back(f["token"]);
        }
        return out;
    }

    ModelProcess model;
    SystemBus bus;
    LuodProcess luod;
    LuodClient client;
};

// Runs checks as another uid in a child; each check returns "" when it holds, else what went
// wrong (printed on stderr). The child's exit status: 0 when every check held.
inline int check_as(uid_t uid, const std::function<std::string()>& checks)
{
    return run_as_uid(uid, [&] {
        std::string failure = checks();
        if (!failure.empty()) {
            std::fprintf(stderr, "as uid %u: %s\n", uid, failure.c_str());
            return 1;
        }
        return 0;
    });
}

// "" when `got` is `want`, else a line saying what differs.
inline std::string expect(const std::string& what, const std::string& got, const std::string& want)
{
    return got == want ? "" : what + ": got '" + got + "', want '" + want + "'; ";
}

}  // namespace luo::test
