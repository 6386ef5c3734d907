#include "publish_steps.hpp"

#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "publish_trace.hpp"

namespace tempfile::detail {
namespace {

thread_local std::vector<std::string>* trace = nullptr;
thread_local std::string failing_step;
thread_local int failing_error = 0;
std::atomic<bool> every_filesystem_syncs = false;

}  // namespace

void check_sync(int result, bool datasync, const std::filesystem::path& path) {
  if (result >= 0) return;
  throw std::system_error(-result, std::generic_category(),
                          (datasync ? "fdatasync before publishing at " : "fsync ") +
                              path.string());
}

void begin_step(const char* step, const std::filesystem::path& path) {
  if (trace) trace->emplace_back(step);
  if (failing_error != 0 && failing_step == step)
    throw std::system_error(failing_error, std::generic_category(),
                            std::string(step) + " " + path.string());
}

void begin_chained_step(const char* step, ring_op& op) {
  if (trace) trace->emplace_back(step);
  if (failing_error != 0 && failing_step == step) fail_in_kernel(op, failing_error);
}

publish_trace::publish_trace() noexcept : outer_(std::exchange(trace, &steps_)) {}

publish_trace::~publish_trace() { trace = outer_; }

void simulate_publish_failure(std::string step, int error) {
  failing_step = std::move(step);
  failing_error = error;
}

void sync_on_every_filesystem(bool every) noexcept {
  every_filesystem_syncs.store(every, std::memory_order_relaxed);
}

bool syncing_on_every_filesystem() noexcept {
  return every_filesystem_syncs.load(std::memory_order_relaxed);
}

}  // namespace tempfile::detail
