#pragma once
/// \file
/// Umbrella header: Python's `tempfile` as C++20 coroutines over io_uring.

// Runtime
#include <tempfile/io_ring.hpp>
#include <tempfile/task.hpp>
#include <tempfile/when_all.hpp>
// Low-level awaitables
#include <tempfile/ops.hpp>
// Module data, options, names
#include <tempfile/names.hpp>
#include <tempfile/options.hpp>
#include <tempfile/tempdir.hpp>
#include <tempfile/unique_fd.hpp>
// Files
#include <tempfile/buffered_file.hpp>
#include <tempfile/file_mode.hpp>
#include <tempfile/named_temporary_file.hpp>
#include <tempfile/spool_budget.hpp>
#include <tempfile/spooled_temporary_file.hpp>
#include <tempfile/temporary_file.hpp>
// Directories
#include <tempfile/temporary_directory.hpp>

/// Python's `tempfile` module as C++20 coroutines over io_uring. The runtime (`io_ring`,
/// `task`, `sync_wait`, `when_all`), Python's functions and module data (`mkstemp`,
/// `mkdtemp`, `gettempdir`, ...), the file types and `temporary_directory`.
namespace tempfile {}
