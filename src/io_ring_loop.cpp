// io_ring's own loop: detached and posted tasks, run and sync_wait, and each turn of it.
#include <tempfile/io_ring.hpp>

#include <stdexcept>
#include <string>

#include <tempfile/detail/op_scope.hpp>

#include "ring_inbox.hpp"

namespace tempfile {
namespace detail {

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

}  // namespace tempfile
