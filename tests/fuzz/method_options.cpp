// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the a{sv} options of CreateSession, LoadKernel and Update as luod decodes
// them (daemon/luod/method_options.h), checked against the API's documented rules written
// out independently here: known keys only, each of its one type, OwnerUID not (uid_t)-1,
// OwnerUnit "" or a .service/.scope unit name, DelayTimeoutUSec at most a day. Accepted
// options must come back unchanged; refused ones only as ApiError(invalid_args).
//
// Input: u8 method (0 CreateSession, 1 LoadKernel, 2 Update), then options until the end:
//   u8 key      < 0x80: one of kKeys (modulo); else a key of u8-length bytes
//   u8 type     bits 0-2 the signature (b u t s i as v a{sv}); bit 3 set: the value is of
//               the type in bits 4-5 (b u t s) whatever the signature says
//   value       b: u8 & 1; u: u32; t: u64; s: u16 length (at most 512) and the bytes
#include <cstddef>
#include <cstdint>
#include <regex>
#include <string>

#include "api_error.h"
#include "fuzz_util.h"
#include "method_options.h"

namespace {

using luod::OptionValue;
using luod::Options;

constexpr const char* kKeys[] = {"OwnerUID", "OwnerUnit", "ReuseCmdline", "NoLiveUpdateFlags",
                                 "DryRun",   "Force",     "DelayTimeoutUSec", "Strategy"};
constexpr const char* kSignatures[] = {"b", "u", "t", "s", "i", "as", "v", "a{sv}"};

struct Rule {
    const char* key;
    const char* signature;
};
// Per method, the documented options and their types.
const std::vector<Rule> kRules[] = {
    {{"OwnerUID", "u"}, {"OwnerUnit", "s"}},
    {{"ReuseCmdline", "b"}, {"NoLiveUpdateFlags", "b"}},
    {{"DryRun", "b"}, {"Force", "b"}, {"DelayTimeoutUSec", "t"}, {"Strategy", "s"}},
};

decltype(OptionValue::value) read_value(luo::fuzz::Reader& in, unsigned type)
{
    switch (type) {
    case 0: return (in.u8() & 1) != 0;
    case 1: return in.u32();
    case 2: return in.u64();
    case 3: return in.string(std::min<std::size_t>(in.u16(), 512));
    default: return std::monostate{};
    }
}

bool holds_type_of(const OptionValue& v, const char* signature)
{
    std::string s = signature;
    return (s == "b" && std::holds_alternative<bool>(v.value)) ||
           (s == "u" && std::holds_alternative<std::uint32_t>(v.value)) ||
           (s == "t" && std::holds_alternative<std::uint64_t>(v.value)) ||
           (s == "s" && std::holds_alternative<std::string>(v.value));
}

// systemd's unit name syntax for the units a process runs in (systemd.unit(5)).
bool unit_name_ok(const std::string& unit)
{
    static const std::regex syntax(R"(^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]+)?\.(service|scope)$)");
    return unit.size() <= 255 && std::regex_match(unit, syntax);
}

// What the documentation says of these options.
bool documented_ok(unsigned method, const Options& options)
{
    for (const auto& [key, value] : options) {
        const Rule* rule = nullptr;
        for (const Rule& r : kRules[method])
            if (key == r.key)
                rule = &r;
        if (!rule || value.signature != rule->signature || !holds_type_of(value, rule->signature))
            return false;
        if (key == "OwnerUID" && std::get<std::uint32_t>(value.value) == UINT32_MAX)
            return false;
        if (key == "OwnerUnit" && !std::get<std::string>(value.value).empty() &&
            !unit_name_ok(std::get<std::string>(value.value)))
            return false;
        if (key == "DelayTimeoutUSec" && std::get<std::uint64_t>(value.value) > 86400ULL * 1000 * 1000)
            return false;
    }
    return true;
}

template <typename T>
std::optional<T> given(const Options& options, const char* key)
{
    auto it = options.find(key);
    return it == options.end() ? std::nullopt : std::optional<T>(std::get<T>(it->second.value));
}

// The parsed result carries exactly what was given (only called when documented_ok).
void check_result(unsigned method, const Options& o)
{
    if (method == 0) {
        auto r = luod::parse_create_session_options(o);
        FUZZ_CHECK(r.owner_uid == given<std::uint32_t>(o, "OwnerUID"));
        FUZZ_CHECK(r.owner_unit == given<std::string>(o, "OwnerUnit"));
    } else if (method == 1) {
        auto r = luod::parse_load_kernel_options(o);
        FUZZ_CHECK(r.reuse_cmdline == given<bool>(o, "ReuseCmdline").value_or(false));
        FUZZ_CHECK(r.no_liveupdate_flags == given<bool>(o, "NoLiveUpdateFlags").value_or(false));
    } else {
        auto r = luod::parse_update_options(o);
        FUZZ_CHECK(r.dry_run == given<bool>(o, "DryRun").value_or(false));
        FUZZ_CHECK(r.force == given<bool>(o, "Force").value_or(false));
        auto usec = given<std::uint64_t>(o, "DelayTimeoutUSec");
        FUZZ_CHECK(r.delay_timeout.has_value() == usec.has_value());
        FUZZ_CHECK(!usec || (r.delay_timeout->count() >= 0 && static_cast<std::uint64_t>(r.delay_timeout->count()) == *usec));
        FUZZ_CHECK(r.strategy == given<std::string>(o, "Strategy").value_or(""));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    luo::fuzz::Reader in({data, size});
    unsigned method = in.u8() % 3;
    Options options;
    while (!in.empty()) {
        std::uint8_t k = in.u8();
        std::string key = k < 0x80 ? kKeys[k % std::size(kKeys)] : in.string(in.u8());
        std::uint8_t type = in.u8();
        OptionValue v{kSignatures[type & 7], {}};
        v.value = read_value(in, (type & 0x08) ? (type >> 4) & 3 : type & 7);
        options.insert_or_assign(std::move(key), std::move(v));
    }

    bool ok = documented_ok(method, options);
    try {
        check_result(method, options);
        FUZZ_CHECK_MSG(ok, "options the documentation refuses were accepted");
    } catch (const luod::ApiError& e) {
        FUZZ_CHECK_MSG(!ok, std::string("documented options refused: ") + e.what());
        FUZZ_CHECK(e.kind() == luod::ErrorKind::invalid_args);
    }
    return 0;
}
