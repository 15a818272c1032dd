// SPDX-License-Identifier: Apache-2.0
#include "method_options.h"

#include <initializer_list>

#include "api_error.h"
#include "names.h"

namespace luod {

namespace {

void only_known(const Options& options, std::initializer_list<const char*> known)
{
    for (const auto& entry : options) {
        bool ok = false;
        for (const char* k : known)
            ok = ok || entry.first == k;
        if (!ok)
            fail(ErrorKind::invalid_args, "unknown option " + quote(entry.first));
    }
}

// The value of `key` if present; it must have `signature`, whose C++ type is T.
template <typename T>
std::optional<T> get(const Options& options, const char* key, const char* signature)
{
    auto it = options.find(key);
    if (it == options.end())
        return std::nullopt;
    const T* value = std::get_if<T>(&it->second.value);
    if (it->second.signature != signature || !value)
        fail(ErrorKind::invalid_args, std::string("option ") + key + " must be of type '" + signature + "', not " +
                                          quote(it->second.signature));
    return *value;
}

}  // namespace

CreateSessionOptions parse_create_session_options(const Options& options)
{
    only_known(options, {"OwnerUID", "OwnerUnit"});
    CreateSessionOptions out;
    out.owner_uid = get<std::uint32_t>(options, "OwnerUID", "u");
    out.owner_unit = get<std::string>(options, "OwnerUnit", "s");
    if (out.owner_uid == UINT32_MAX)
        fail(ErrorKind::invalid_args, "option OwnerUID: 4294967295 is not a user");
    if (out.owner_unit && !out.owner_unit->empty())
        validate_unit_name(*out.owner_unit);
    return out;
}

LoadKernelOptions parse_load_kernel_options(const Options& options)
{
    only_known(options, {"ReuseCmdline", "NoLiveUpdateFlags"});
    LoadKernelOptions out;
    out.reuse_cmdline = get<bool>(options, "ReuseCmdline", "b").value_or(false);
    out.no_liveupdate_flags = get<bool>(options, "NoLiveUpdateFlags", "b").value_or(false);
    return out;
}

UpdateOptions parse_update_options(const Options& options)
{
    only_known(options, {"DryRun", "Force", "DelayTimeoutUSec", "Strategy"});
    UpdateOptions out;
    out.dry_run = get<bool>(options, "DryRun", "b").value_or(false);
    out.force = get<bool>(options, "Force", "b").value_or(false);
    if (auto usec = get<std::uint64_t>(options, "DelayTimeoutUSec", "t")) {
        if (auto problem = luo::update::delay_timeout_problem_usec(*usec))
            fail(ErrorKind::invalid_args, "option DelayTimeoutUSec: " + *problem);
        out.delay_timeout = std::chrono::microseconds(static_cast<std::int64_t>(*usec));
    }
    out.strategy = get<std::string>(options, "Strategy", "s").value_or("");
    return out;
}

}  // namespace luod
