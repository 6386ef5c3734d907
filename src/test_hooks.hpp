#pragma once
// Switches the tests use to reach paths the machines at hand never take. Not installed:
// the tests find this header through their include path.

#include <cstddef>
#include <string_view>

namespace tempfile::detail {

/// Rings constructed on this thread act as if the kernel lacked the feature `name` (as
/// `io_ring`'s error names it); an empty name ends the simulation.
void simulate_missing_ring_feature(std::string_view name) noexcept;

/// On this thread, the kernel fails every op of a linked chain whose opcode is `opcode` (an
/// `IORING_OP_*`) with `error` instead of running it; 0 ends the simulation.
void simulate_chain_failure(unsigned opcode, int error) noexcept;

/// Makes `open_unnamed` behave as on a filesystem without `O_TMPFILE` (the kernels and
/// filesystems at hand all support it).
void simulate_missing_o_tmpfile(bool missing) noexcept;

/// The bytes each directory listing of a cleanup reads at once (getdents64); 0 restores
/// the default.
void set_listing_chunk_size(std::size_t bytes) noexcept;

}  // namespace tempfile::detail
