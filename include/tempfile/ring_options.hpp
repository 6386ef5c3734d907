#pragma once
/// \file
/// `ring_options` and `ring_stats`: how an `io_ring` is set up, and what it counts.

#include <cstdint>

namespace tempfile {

/// How an `io_ring` is set up. Fields after `sqpoll` are extensions with measured defaults.
/// io-wq belongs to the thread, not the ring: `max_workers` and `pin_workers` apply to every
/// ring the constructing thread uses, as the last ring constructed on it set them.
struct ring_options {
  unsigned entries = 256;    ///< submission queue size (at least 4, the longest linked chain; rounded up to a power of two)
  /// io-wq worker cap per kind; 0: the CQ size, the most ops this ring keeps in flight.
  /// Blocking ops (fsync, O_CREAT opens, unlinks) each hold a worker while they wait: with
  /// a cap of the CPU count only two fsyncs were ever in flight here, and a journal
  /// cannot batch what it never sees. Measured on a journaled ext4 image (bench/README.md,
  /// "Durable publishing"), 128 durable publishes in flight: 290/s with a cap of 2, 2.1 k/s
  /// with 8 (the kernel's own cap here), 6.4 k/s with the CQ size (1.56x a pool of 128
  /// threads); creates at 64 in flight unchanged. Idle workers exit on their own.
  unsigned max_workers = 0;
  bool sqpoll = false;       ///< kernel thread polls the SQ (excludes DEFER_TASKRUN)
  /// Completion queue size (at least the SQ size, and 8); 0: twice `entries`.
  unsigned cq_entries = 0;
  /// IORING_SETUP_DEFER_TASKRUN when the kernel has it: measured 9-12 % faster NOPs at
  /// queue depth 1 and 4-6 % less CPU per created file (bench/README.md).
  bool defer_taskrun = true;
  /// Keep io-wq workers on the CPU the constructing thread runs on. Blocking ops (O_CREAT
  /// opens, unlinks, buffered writes) run on io-wq workers; pinned, they share the
  /// submitter's CPU and cannot run in parallel with it. Off by default: measured, pinning
  /// left one-at-a-time creation unchanged and made directory cleanup 1.5x slower
  /// (bench/README.md).
  bool pin_workers = false;
  /// `O_TMPFILE` files `temporary_file::create` keeps opened ahead, per directory (0: none,
  /// the default). An io_uring `O_TMPFILE` open always waits for an io-wq worker; with a
  /// reserve, the ring opens files in batches in the background and a create takes one at
  /// once: measured 2x faster one file at a time, but 0.8x at 8 files in flight
  /// (bench/README.md). It holds up to this many descriptors for each of up to four
  /// directories while the ring lives, and a file from it was created when its batch was
  /// opened (a directory removed since still yields the files already opened there).
  unsigned unnamed_file_reserve = 0;
  /// Apply `max_workers` and `pin_workers` to the thread's io-wq. False leaves the thread's
  /// settings as they are: for a short-lived ring beside the application's own, such as
  /// the one a `temporary_directory` destructor removes its tree with.
  bool configure_io_wq = true;
};

/// Counters of what the ring did: for tests and benchmarks (batching is observable here).
struct ring_stats {
  std::uint64_t enters = 0;     ///< io_uring_enter system calls
  std::uint64_t submitted = 0;  ///< SQEs handed to the kernel
  std::uint64_t largest_submit = 0;  ///< most SQEs handed to the kernel by one io_uring_enter
  std::uint64_t completed = 0;  ///< CQEs reaped (a linked write + close posts one for two SQEs)
  std::uint64_t backlogged = 0; ///< ops that waited for a free SQ/CQ slot
};

}  // namespace tempfile
