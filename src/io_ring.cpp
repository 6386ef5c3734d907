// io_ring's life: set up and checked for what the library needs, and at its end torn down.
#include <tempfile/io_ring.hpp>

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

#include "op_names.hpp"
#include "ring_inbox.hpp"
#include "test_hooks.hpp"

namespace tempfile {
namespace {

// Everything the library issues; IORING_OP_FTRUNCATE (Linux 6.9) is optional (see ops).
constexpr unsigned required_ops[] = {
    IORING_OP_NOP,   IORING_OP_OPENAT,   IORING_OP_READ,    IORING_OP_WRITE,
    IORING_OP_CLOSE, IORING_OP_FSYNC,    IORING_OP_STATX,   IORING_OP_UNLINKAT,
    IORING_OP_MKDIRAT, IORING_OP_LINKAT, IORING_OP_RENAMEAT, IORING_OP_ASYNC_CANCEL,
};

/// A kernel behaviour the runtime relies on beyond opcodes, and how to see that it is there.
struct required_feature {
  const char* name;
  const char* needed_for;
  bool (*present)(io_uring& ring);
};

bool skips_successful_cqes(io_uring& ring) { return ring.features & IORING_FEAT_CQE_SKIP; }

/// A kernel without IORING_ASYNC_CANCEL_ANY answers EINVAL; with it, nothing to cancel
/// is ENOENT. One round trip, before the ring is used.
bool cancels_any(io_uring& ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (!sqe) return false;
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
  io_uring_sqe_set_data(sqe, nullptr);
  io_uring_cqe* cqe = nullptr;
  int rc;
  do rc = io_uring_submit_and_wait(&ring, 1);
  while (rc == -EINTR);
  if (rc < 0 || io_uring_peek_cqe(&ring, &cqe) != 0) return false;
  const bool known = cqe->res != -EINVAL;
  io_uring_cqe_seen(&ring, cqe);
  return known;
}

constexpr required_feature required_features[] = {
    {"IORING_FEAT_CQE_SKIP", "a linked write and close posting one completion",
     skips_successful_cqes},
    {"IORING_ASYNC_CANCEL_ANY", "cancelling every op when the ring is destroyed", cancels_any},
};

thread_local std::string_view simulated_missing_feature;

[[noreturn]] void throw_unavailable(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), "io_uring unavailable: " + what);
}

// A linked chain needs all its SQEs in one submission, and a CQ slot for each CQE it may
// post beside the one kept for the wake poll.
constexpr unsigned min_entries = detail::linked_ops::max_chain;
constexpr unsigned min_cq_entries = detail::linked_ops::max_chain + 1;

int setup(io_uring& ring, const ring_options& options) {
  const unsigned entries = std::max(options.entries, min_entries);
  io_uring_params base{};
  if (options.cq_entries != 0) {
    base.flags |= IORING_SETUP_CQSIZE;
    // The kernel wants no fewer than the SQ's.
    base.cq_entries = std::max({options.cq_entries, entries, min_cq_entries});
  }
  unsigned wanted = IORING_SETUP_SINGLE_ISSUER;
  if (options.sqpoll)
    wanted |= IORING_SETUP_SQPOLL;  // the kernel rejects the task-run flags with SQPOLL
  else
    wanted |= IORING_SETUP_COOP_TASKRUN |
              (options.defer_taskrun ? IORING_SETUP_DEFER_TASKRUN : 0u);
  // A kernel that does not know a flag answers EINVAL: drop the optional ones in turn.
  const unsigned optional = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
                            IORING_SETUP_COOP_TASKRUN;
  int rc = -EINVAL;
  for (unsigned flags : {wanted, wanted & ~IORING_SETUP_DEFER_TASKRUN, wanted & ~optional}) {
    io_uring_params params = base;
    params.flags |= flags;
    rc = io_uring_queue_init_params(entries, &ring, &params);
    if (rc != -EINVAL) break;
  }
  return rc;
}

}  // namespace

namespace detail {

void simulate_missing_ring_feature(std::string_view name) noexcept {
  simulated_missing_feature = name;
}

}  // namespace detail

io_ring::io_ring(ring_options options) : options_(options) {
  if (int rc = setup(ring_, options); rc < 0)
    throw_unavailable(-rc, "io_uring_setup failed (kernel without io_uring, "
                           "or disabled by seccomp or kernel.io_uring_disabled)");
  try {
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (!probe) throw_unavailable(ENOSYS, "cannot probe supported opcodes");
    for (unsigned op = 0; op < supported_.size(); ++op)
      supported_[op] = io_uring_opcode_supported(probe, static_cast<int>(op)) != 0;
    io_uring_free_probe(probe);
    for (unsigned op : required_ops)
      if (!supports(op))
        throw_unavailable(ENOSYS, std::string("the kernel lacks ") + detail::op_name(op) +
                                      " (Linux >= 5.19 is needed)");
    for (const required_feature& feature : required_features)
      if (feature.name == simulated_missing_feature || !feature.present(ring_))
        throw_unavailable(ENOSYS, std::string("the kernel lacks ") + feature.name + ", needed for " +
                                      feature.needed_for + " (Linux >= 5.19 is needed)");

    if (options.configure_io_wq) configure_io_wq();
    inbox_ = std::make_unique<detail::ring_inbox>();
  } catch (...) {
    io_uring_queue_exit(&ring_);
    throw;
  }
  max_in_flight_ = ring_.cq.ring_entries - 1;  // a CQ slot stays free for the wake poll
  ready_.reserve(max_in_flight_);
  resuming_.reserve(max_in_flight_);
}

void io_ring::configure_io_wq() {
  // Default: as many workers as ops can be in flight, so blocking ops (fsync, O_CREAT
  // opens) overlap instead of queueing behind a CPU-sized pool (see ring_options).
  const unsigned workers = options_.max_workers ? options_.max_workers : ring_.cq.ring_entries;
  unsigned limits[2] = {workers, workers};  // bounded (regular files), unbounded
  if (int rc = io_uring_register_iowq_max_workers(&ring_, limits); rc < 0)
    throw std::system_error(-rc, std::generic_category(), "io_uring_register_iowq_max_workers");

  if (options_.pin_workers && !options_.sqpoll) {
    // Best effort: a cpuset that forbids the CPU only loses the optimisation.
    if (int cpu = sched_getcpu(); cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(static_cast<unsigned>(cpu), &set);
      (void)io_uring_register_iowq_aff(&ring_, sizeof set, &set);
    }
  }
}

io_ring::~io_ring() {
  {
    const std::lock_guard lock(extensions_mutex_);
    for (auto& [key, extension] : extensions_) extension->ring_closing();
  }
  (void)inbox_->take();  // posted, never started: destroyed unrun
  // Destroying a suspended detached task destroys its awaiters, which cancel their ops.
  while (spawned_)
    std::coroutine_handle<detail::spawned_promise>::from_promise(*spawned_).destroy();
  // Files that outlive the ring finish with it now, while it still works.
  while (detail::ring_user* user = users_) {
    if (user->on_ring_destroyed_) user->on_ring_destroyed_(*user);
    user->detach();
  }
  extensions_.clear();
  cancel_all_and_drain();
  io_uring_queue_exit(&ring_);
}

void io_ring::cancel_all_and_drain() noexcept {
  // Ops whose awaiters outlive the ring are cut loose: their destructors leave us alone.
  while (detail::ring_op* op = backlog_.pop_front()) {
    op->for_each_in_chain([](detail::ring_op& cut) {
      cut.ring_ = nullptr;
      cut.discard_result();  // never ran
    });
  }
  for (auto* queue : {&ready_, &resuming_})
    for (const ready_entry& entry : *queue)
      if (entry.op)  // a chain's ops completed with it
        entry.op->chain_head().for_each_in_chain([](detail::ring_op& cut) { cut.ring_ = nullptr; });
  detaching_ = true;
  if (in_flight_ == 0 && !wake_armed_) return;
  io_uring_sqe* cancel = internal_sqe();
  io_uring_prep_cancel64(cancel, 0, IORING_ASYNC_CANCEL_ANY);
  io_uring_sqe_set_data(cancel, nullptr);
  while (in_flight_ != 0 || wake_armed_) {
    enter(1);
    reap();
  }
}

}  // namespace tempfile
