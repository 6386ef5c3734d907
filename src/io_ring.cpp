#include <tempfile/io_ring.hpp>

#include <poll.h>
#include <sched.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include <tempfile/detail/op_scope.hpp>

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

struct simulated_failure {
  unsigned opcode;
  int error;
};
thread_local simulated_failure simulated_chain_failure{};

// The user_data of the poll that wakes a blocked ring when a task is posted.
constexpr char wake_tag = 0;

[[noreturn]] void throw_unavailable(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), "io_uring unavailable: " + what);
}

// A linked chain needs all its SQEs in one submission.
constexpr unsigned min_entries = detail::linked_ops::max_chain;

// IORING_NOP_INJECT_RESULT (Linux 6.10; newer than liburing 2.3's headers).
constexpr unsigned nop_inject_result = 1u << 0;

int setup(io_uring& ring, const ring_options& options) {
  const unsigned entries = std::max(options.entries, min_entries);
  io_uring_params base{};
  if (options.cq_entries != 0) {
    base.flags |= IORING_SETUP_CQSIZE;
    base.cq_entries = std::max(options.cq_entries, entries);  // the kernel wants no fewer
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

void simulate_chain_failure(unsigned opcode, int error) noexcept {
  simulated_chain_failure.opcode = opcode;
  simulated_chain_failure.error = error;
}

spawned_promise::spawned_promise(io_ring& ring, task<void>&) noexcept : ring_(ring) {
  next_ = ring_.spawned_;
  if (next_) next_->prev_ = this;
  ring_.spawned_ = this;
}

spawned_promise::~spawned_promise() {
  (prev_ ? prev_->next_ : ring_.spawned_) = next_;
  if (next_) next_->prev_ = prev_;
}

spawned_task spawned_promise::get_return_object() noexcept {
  return {std::coroutine_handle<spawned_promise>::from_promise(*this)};
}

void spawned_promise::unhandled_exception() noexcept {
  if (!ring_.spawned_error_) ring_.spawned_error_ = std::current_exception();
}

}  // namespace detail

namespace {
detail::spawned_task run_detached(io_ring&, task<void> t) { co_await t; }
}  // namespace

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

void io_ring::spawn(task<void> t) {
  ready_.push_back({run_detached(*this, std::move(t)).handle, nullptr});
  signal_poll_fd();
}

void io_ring::post(task<void> t) { inbox_->post(std::move(t)); }

void io_ring::start_posted() {
  if (!inbox_->has_posts()) return;
  for (task<void>& t : inbox_->take()) spawn(std::move(t));
}

void io_ring::run() {
  loop_until("io_ring::run", [this] { return spawned_ == nullptr; });
  if (spawned_error_) std::rethrow_exception(std::exchange(spawned_error_, nullptr));
}

void io_ring::drive(std::coroutine_handle<> until_done, bool resume_first) {
  // Refused before anything is queued: the caller's task dies with the exception, and a
  // queued handle would outlive its frame.
  refuse_other_threads("sync_wait");
  refuse_if_driven();
  if (resume_first) ready_.push_back({until_done, nullptr});
  loop_until("sync_wait", [until_done] { return until_done.done(); });
}

void io_ring::refuse_other_threads(const char* call) const {
  if (std::this_thread::get_id() != owner_)
    throw std::logic_error(std::string("tempfile::io_ring: ") + call +
                           " called from a thread other than the ring's own");
}

void io_ring::refuse_if_driven() const {
  if (driving_) throw std::logic_error("tempfile::io_ring: already driven (sync_wait or run "
                                       "called from a coroutine on the same ring)");
}

template <class Done>
void io_ring::loop_until(const char* call, Done done) {
  const driving_scope driving(*this, call);
  for (;;) {
    start_posted();
    run_ready();
    if (done()) return;
    wait_for_progress();
  }
}

void io_ring::run_ready() {
  // One batch: coroutines that yield land in ready_ again and run after the next enter,
  // so a yielding loop cannot starve completions.
  // Each coroutine runs in the scope of the op it waited for: what it issues joins that
  // scope. Coroutines of a cancelled scope are held, never resumed.
  resuming_.swap(ready_);
  for (std::size_t i = 0; i < resuming_.size(); ++i) {
    // Taken out: an entry left behind would name an op whose frame may be gone by the
    // time a later entry's coroutine looks through the queue (op_scope::end).
    const ready_entry entry = std::exchange(resuming_[i], {});
    if (entry.op) {
      detail::op_scope* scope = entry.op->scope_;
      if (scope && scope->cancelled()) {
        scope->hold(*entry.op);
        continue;
      }
      current_scope_ = scope;
      entry.op->waiting_.resume();
    } else if (entry.coroutine) {
      current_scope_ = nullptr;
      entry.coroutine.resume();
    }
  }
  current_scope_ = nullptr;
  resuming_.clear();
}

void io_ring::wait_for_progress() {
  fill_from_backlog();
  const bool runnable = !ready_.empty() || inbox_->has_posts();
  if (!runnable && in_flight_ == 0 && backlog_.empty())
    throw std::logic_error("tempfile::io_ring: coroutines are suspended with nothing in flight");
  if (!runnable) arm_wake();
  enter(runnable ? 0 : 1);
  reap();
}

void io_ring::arm_wake() {
  if (wake_armed_) return;
  io_uring_sqe* sqe = internal_sqe();
  io_uring_prep_poll_add(sqe, inbox_->wake_fd(), POLLIN);
  io_uring_sqe_set_data(sqe, const_cast<char*>(&wake_tag));
  wake_armed_ = true;
  ++internal_sqes_;
}

void io_ring::fill_from_backlog() {
  while (!backlog_.empty() && in_flight_ < max_in_flight_) {
    const unsigned sqes = backlog_.front()->chain_length();
    if (io_uring_sq_space_left(&ring_) < sqes) {
      enter(0);  // SQ full: hand it to the kernel and go on filling
      if (io_uring_sq_space_left(&ring_) < sqes) return;
    }
    [[maybe_unused]] const bool placed = try_place(*backlog_.pop_front());
    assert(placed);  // free SQEs and CQ room were checked above
  }
}

bool io_ring::try_place_linked(detail::ring_op& leader) noexcept {
  // Every SQE goes into the same submission, or the link would dangle at its end. The
  // chain posts one CQE (see linked_ops), so it takes one CQ slot.
  if (in_flight_ >= max_in_flight_ || io_uring_sq_space_left(&ring_) < leader.chain_length())
    return false;
  const simulated_failure simulated = simulated_chain_failure;
  leader.for_each_in_chain([&](detail::ring_op& link) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    place(link, *sqe);
    if (simulated.error != 0 && sqe->opcode == simulated.opcode) {
      detail::fail_in_kernel(link, simulated.error);
      prepare_injected_failure(link, *sqe);
    }
    if (link.follower_) sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
  });
  count_in_flight(leader);
  return true;
}

void io_ring::prepare_injected_failure(const detail::ring_op& op, io_uring_sqe& sqe) noexcept {
  io_uring_prep_nop(&sqe);
  sqe.rw_flags = static_cast<int>(nop_inject_result);
  sqe.len = static_cast<unsigned>(-static_cast<int>(op.injected_error_));
}

void io_ring::count_in_flight(detail::ring_op& placed) noexcept {
  ++in_flight_;
  if (placed.scope_) placed.scope_->in_flight_.push_back(placed);
}

void io_ring::count_reaped(detail::ring_op& placed) noexcept {
  --in_flight_;
  if (detail::op_scope* scope = placed.scope_) {
    scope->in_flight_.erase(placed);
    if (scope->cancelled_ && scope->in_flight_.empty() && scope->on_drained_)
      ready_.push_back({std::exchange(scope->on_drained_, {}), nullptr});
  }
}

void io_ring::complete_linked(detail::ring_op& op) noexcept {
  // Only the first op that fails (or falls short) posts, or else the last: the ops before
  // `op` completed fully (their preset results stand), those after it never ran.
  detail::ring_op& leader = op.chain_head();
  bool after = false;
  leader.for_each_in_chain([&](detail::ring_op& link) {
    if (after) link.result_ = -ECANCELED;
    if (&link == &op) after = true;
    link.stage_ = detail::ring_op::stage::completed;
  });
  detail::ring_op& resumer = leader.chain_tail();
  if (resumer.waiting_) {
    ready_.push_back({{}, &resumer});
  } else {  // abandoned: nobody will resume the chain
    leader.for_each_in_chain([](detail::ring_op& link) { link.discard_result(); });
  }
}

void io_ring::submit_queued() {
  if (io_uring_sq_ready(&ring_) != 0) enter(0);
}

void io_ring::enter(unsigned wait_for) {
  for (;;) {
    ++stats_.enters;
    // With DEFER_TASKRUN completions are only posted inside io_uring_enter(GETEVENTS).
    const int rc = wait_for ? io_uring_submit_and_wait(&ring_, wait_for)
                            : io_uring_submit_and_get_events(&ring_);
    if (rc >= 0) {
      // The wake poll is the ring's own business: the stats count what callers issued.
      const unsigned own = std::min(static_cast<unsigned>(rc), std::exchange(internal_sqes_, 0u));
      const unsigned theirs = static_cast<unsigned>(rc) - own;
      stats_.submitted += theirs;
      stats_.largest_submit = std::max<std::uint64_t>(stats_.largest_submit, theirs);
      return;
    }
    if (rc == -EINTR) continue;
    if (rc == -EBUSY || rc == -EAGAIN) {  // completions must be reaped before more submits
      reap();
      if (wait_for == 0) return;
      continue;
    }
    throw std::system_error(-rc, std::generic_category(), "io_uring_enter");
  }
}

void io_ring::reap() {
  unsigned head;
  unsigned seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    void* data = io_uring_cqe_get_data(cqe);
    if (data == &wake_tag) {  // something was posted: start_posted takes it
      wake_armed_ = false;
      inbox_->consume_wake();
      continue;
    }
    auto* op = static_cast<detail::ring_op*>(data);
    if (!op) continue;  // the library's own cancellations
    count_reaped(op->leader_ ? *op->leader_ : *op);
    op->result_ = cqe->res;
    if (detaching_) {  // the ring is going away: the awaiter must never call back
      op->chain_head().for_each_in_chain([](detail::ring_op& cut) {
        cut.ring_ = nullptr;
        cut.waiting_ = {};
      });
    }
    if (op->leader_ || op->follower_) {
      complete_linked(*op);
      continue;
    }
    if (op->waiting_) {
      op->stage_ = detail::ring_op::stage::completed;
      ready_.push_back({{}, op});
    } else {
      op->discard_result();  // abandoned: nobody will resume it
    }
  }
  io_uring_cq_advance(&ring_, seen);
  stats_.completed += seen;
}

io_uring_sqe* io_ring::internal_sqe() {
  for (;;) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
    enter(0);
  }
}

void io_ring::abandon(detail::ring_op& op) noexcept {
  // `op` is a single op or a chain's first; the loop resumes `resumer`'s waiter.
  using stage = detail::ring_op::stage;
  detail::ring_op& resumer = op.chain_tail();
  resumer.waiting_ = {};
  switch (op.stage_) {
    case stage::backlogged:  // a chain's followers were never placed
      backlog_.erase(op);
      break;
    case stage::completed:  // queued for resumption: drop the entry
      for (auto* queue : {&ready_, &resuming_})
        for (ready_entry& entry : *queue)
          if (entry.op == &resumer) entry = {};
      break;
    case stage::held:  // its scope was cancelled: nobody will resume it
      op.scope_->held_.erase(op);
      break;
    case stage::in_flight:
      // The kernel may still write into the op's buffers: cancel, then wait it out. In a
      // chain, whichever op is running is cancelled, which fails the rest; one the kernel
      // cannot interrupt is near its CQE. Reaping the CQE with no waiter discards the results.
      op.for_each_in_chain([this](detail::ring_op& link) {
        io_uring_sqe* cancel = internal_sqe();
        io_uring_prep_cancel64(cancel, reinterpret_cast<std::uint64_t>(&link), 0);
        io_uring_sqe_set_data(cancel, nullptr);
      });
      while (op.stage_ == stage::in_flight) {
        enter(1);
        reap();
      }
      break;
    case stage::prepared:
    case stage::consumed:
      break;
  }
  op.for_each_in_chain([](detail::ring_op& link) {
    if (link.stage_ != stage::consumed) link.discard_result();  // closes a won fd
  });
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
