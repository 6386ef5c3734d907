#pragma once
/// \file
/// Umbrella header: Python's `tempfile` as C++20 coroutines over io_uring.

// Runtime
#include <tempfile/io_ring.hpp>
#include <tempfile/task.hpp>
#include <tempfile/when_all.hpp>
// Low-level awaitables
#include <tempfile/ops.hpp>
// Options and descriptors
#include <tempfile/options.hpp>
#include <tempfile/unique_fd.hpp>
// Files
#include <tempfile/buffered_file.hpp>
#include <tempfile/file_mode.hpp>
#include <tempfile/named_temporary_file.hpp>
#include <tempfile/spooled_temporary_file.hpp>
#include <tempfile/temporary_file.hpp>
