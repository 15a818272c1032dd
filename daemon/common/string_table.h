// SPDX-License-Identifier: Apache-2.0
// One table of names per enum, as systemd's *_to_string/*_from_string pairs: the name an
// enum value has on the bus, in the manifest or in luod.conf is written once, and both
// directions read that one table.
//
//     inline constexpr StringTable<InhibitMode, 2> kInhibitModes{{{
//         {InhibitMode::delay, "delay"}, {InhibitMode::block, "block"}}}};
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace luo {

template <typename Enum, std::size_t N>
struct StringTable {
    std::array<std::pair<Enum, std::string_view>, N> entries;

    [[nodiscard]] constexpr std::string_view name(Enum value) const
    {
        for (const auto& [v, n] : entries)
            if (v == value)
                return n;
        return {};
    }
    [[nodiscard]] constexpr std::optional<Enum> parse(std::string_view name) const
    {
        for (const auto& [v, n] : entries)
            if (n == name)
                return v;
        return std::nullopt;
    }
    // Every name, in the table's order.
    [[nodiscard]] constexpr std::array<std::string_view, N> all_names() const
    {
        std::array<std::string_view, N> out{};
        for (std::size_t i = 0; i < N; ++i)
            out[i] = entries[i].second;
        return out;
    }
    // "a, b, c": the names, for error messages.
    [[nodiscard]] std::string names() const
    {
        std::string out;
        for (const auto& [v, n] : entries)
            out.append(out.empty() ? "" : ", ").append(n);
        return out;
    }
};

}  // namespace luo
