#pragma once
// Test hooks of publishing (`link`, `replace`, `persist`, `persist_noclobber`): the steps
// it issues, and failures injected at one of them. Not installed, as test_hooks.hpp.

#include <string>
#include <vector>

namespace tempfile::detail {

/// While alive, records on the calling thread each step publishing issues, in order:
/// "fdatasync", "linkat", "renameat", "unlinkat", "copy", "fsync directory".
class publish_trace {
 public:
  publish_trace() noexcept;
  ~publish_trace();
  publish_trace(const publish_trace&) = delete;
  publish_trace& operator=(const publish_trace&) = delete;

  /// The steps recorded so far.
  const std::vector<std::string>& steps() const noexcept { return steps_; }

 private:
  std::vector<std::string> steps_;
  std::vector<std::string>* outer_;
};

/// On the calling thread, makes the publishing step `step` (a name `publish_trace`
/// records) fail with `error` instead of reaching the kernel; an `error` of 0 ends it.
void simulate_publish_failure(std::string step, int error);

/// In the whole process, durable publishes sync on every filesystem, also where fsync does
/// nothing (tmpfs, ramfs): the steps a test expects then do not depend on where it runs.
void sync_on_every_filesystem(bool every) noexcept;

}  // namespace tempfile::detail
