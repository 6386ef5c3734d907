#pragma once
// Directory fsyncs shared between the durable publishes of one ring (a group commit).

#include <filesystem>

#include <tempfile/io_ring.hpp>
#include <tempfile/task.hpp>

namespace tempfile::detail {

/// fsync(2) of `dir`, after which every name this caller made in it survives a crash.
/// Callers of one ring share the work: while a sync of `dir` runs, new callers wait for
/// the next one, which starts when it ends and covers all of them (a sync that began
/// before a caller's name was made would not). Throws `std::system_error` naming `dir`.
task<void> shared_directory_sync(io_ring& ring, std::filesystem::path dir);

}  // namespace tempfile::detail
