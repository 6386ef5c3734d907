#pragma once
/// \file
/// Umbrella header: Python's `tempfile` as C++20 coroutines over io_uring.

#include <tempfile/io_ring.hpp>
#include <tempfile/ops.hpp>
#include <tempfile/task.hpp>
#include <tempfile/when_all.hpp>
#include <tempfile/options.hpp>
#include <tempfile/unique_fd.hpp>
