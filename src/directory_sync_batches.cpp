#include "directory_sync_batches.hpp"

#include <cerrno>
#include <system_error>
#include <utility>

#include "publish.hpp"

namespace tempfile::detail {

batch_waiter::~batch_waiter() {
  if (batch_) batch_->erase(*this);
}

bool batch_waiter::await_suspend(std::coroutine_handle<> waiting) noexcept {
  directory_sync_batches& batches = *batches_;
  try {
    if (batches.closing_)
      throw std::system_error(ECANCELED, std::generic_category(),
                              "fsync " + std::string(dir_) + ": the ring is going away");
    auto found = batches.dirs_.find(dir_);
    const bool idle = found == batches.dirs_.end();
    if (idle) found = batches.dirs_.emplace(dir_, directory_sync_batches::directory{}).first;
    wait_outside_kernel(waiting);
    found->second.next.push_back(*this);
    batch_ = &found->second.next;
    if (idle) batches.start_batches(dir_);
  } catch (...) {
    failure_ = std::current_exception();
    return false;
  }
  return true;
}

directory_sync_batches::own_sync::own_sync(directory_sync_batches& batches, std::string_view dir)
    : batches_(batches), dir_(dir) {
  batches_.dirs_.emplace(dir_, directory{});
}

std::size_t directory_sync_batches::waiting(std::string_view dir) const noexcept {
  const auto found = dirs_.find(dir);
  if (found == dirs_.end()) return 0;
  std::size_t count = 0;
  found->second.next.for_each([&count](ring_op&) { ++count; });
  return count;
}

void directory_sync_batches::release(std::string_view dir) noexcept {
  if (closing_) return;
  const auto found = dirs_.find(dir);
  if (found->second.next.empty())
    dirs_.erase(found);
  else
    start_batches(dir);
}

void directory_sync_batches::start_batches(std::string_view dir) noexcept {
  try {
    ring_.spawn(run_batches(std::string(dir)));
  } catch (...) {
    const auto found = dirs_.find(dir);
    complete(found->second.next, std::current_exception());
    dirs_.erase(found);
  }
}

task<void> directory_sync_batches::run_batches(std::string dir) {
  // The directory's entry lives as long as this runs: nobody else erases it meanwhile.
  directory& state = dirs_.find(dir)->second;
  while (!state.next.empty()) {
    while (ring_op* waiter = state.next.pop_front()) {
      state.syncing.push_back(*waiter);
      static_cast<batch_waiter*>(waiter)->batch_ = &state.syncing;
    }
    std::exception_ptr failure;
    try {
      failure = co_await sync_directory_reporting(ring_, dir);
    } catch (...) {  // no memory for the sync's frame
      failure = std::current_exception();
    }
    complete(state.syncing, failure);
  }
  dirs_.erase(dir);
}

void directory_sync_batches::complete(op_list& batch, const std::exception_ptr& failure) noexcept {
  while (ring_op* op = batch.pop_front()) {
    auto& waiter = static_cast<batch_waiter&>(*op);
    waiter.batch_ = nullptr;
    waiter.failure_ = failure;
    waiter.complete_outside_kernel(0);
  }
}

void directory_sync_batches::ring_closing() noexcept {
  // Nothing of the ring resumes from now on: waiters are cut loose, own syncs forget.
  closing_ = true;
  for (auto& [dir, state] : dirs_)
    for (op_list* batch : {&state.next, &state.syncing})
      while (ring_op* op = batch->pop_front()) static_cast<batch_waiter*>(op)->batch_ = nullptr;
}

}  // namespace tempfile::detail
