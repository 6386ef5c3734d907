#pragma once
// The random part of generated names.

#include <cstddef>
#include <string>
#include <string_view>

namespace tempfile::detail {

/// Characters of generated names: Python's `_RandomNameSequence.characters`.
inline constexpr std::string_view name_alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_";
/// How many random characters a generated name has.
inline constexpr std::size_t random_name_length = 8;

/// `random_name_length` characters drawn from `name_alphabet` by a per-thread generator
/// seeded from getrandom(2), and seeded again in a forked child, so that parent and child
/// never go on to draw the same names.
std::string random_name();

}  // namespace tempfile::detail
