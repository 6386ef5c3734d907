#pragma once
// The steps of a publish as tests see them: each is recorded for a `publish_trace`, and a
// failure a test injects at a step happens there.

#include <filesystem>

#include <tempfile/detail/ring_op.hpp>

namespace tempfile::detail {

/// Throws a failed sync (`result` < 0): the fdatasync of a file to publish (`datasync`) or
/// the fsync of a directory, naming `path`.
void check_sync(int result, bool datasync, const std::filesystem::path& path);

/// Records `step` for a `publish_trace` and throws the failure a test injected there.
void begin_step(const char* step, const std::filesystem::path& path);

/// Records `step` of a linked chain for a `publish_trace`; a failure a test injected there
/// is made by the kernel, which breaks the chain at `op` as a real one would.
void begin_chained_step(const char* step, ring_op& op);

/// Whether a test asked for syncs on every filesystem (`sync_on_every_filesystem`).
bool syncing_on_every_filesystem() noexcept;

}  // namespace tempfile::detail
