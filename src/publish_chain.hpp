#pragma once
// A publish in linked chains: the file's last bytes with the fdatasync or the op that
// makes the name.

#include <cassert>
#include <filesystem>
#include <utility>

#include <tempfile/detail/ring_op.hpp>
#include <tempfile/ops.hpp>

#include "publish.hpp"
#include "publish_steps.hpp"

namespace tempfile::detail {

/// Throws a failed sync (`result` < 0): the fdatasync of a file to publish (`datasync`) or
/// the fsync of a directory, naming `path`.
void check_sync(int result, bool datasync, const std::filesystem::path& path);

/// What a publish does besides the op that makes the name.
struct chain_plan {
  unwritten_bytes unwritten;  ///< written first
  bool sync_data = false;     ///< an fdatasync before the name appears
};

/// `publish` (`step`: an op giving the file open as `fd` the name `target`) with what
/// `plan` puts before it, in as few round trips as the kernel's chain rule allows (see
/// `linked_ops`): without a sync, the unwritten bytes and the name are one chain; with
/// one, the bytes and the fdatasync are, and the name follows once the sync succeeded (a
/// failed fdatasync does not break a chain, so nothing may be linked after it). A failure
/// is thrown, the write's excepted (see `publish_outcome::written`).
template <class Publish>
class publish_chain {
 public:
  publish_chain(io_ring& ring, int fd, const std::filesystem::path& target,
                const chain_plan& plan, const char* step, Publish& publish)
      : unwritten_(plan.unwritten),
        write_(ring, {fd, unwritten_.bytes, unwritten_.offset}),
        datasync_(ops::fsync(ring, fd, true)),
        publish_(publish),
        target_(target),
        sync_data_(plan.sync_data),
        first_(writes() ? static_cast<ring_op&>(write_)
                        : sync_data_ ? static_cast<ring_op&>(datasync_) : publish) {
    assert(unwritten_.bytes.size() <= max_transfer);
    const int written = static_cast<int>(unwritten_.bytes.size());
    if (writes()) begin_chained_step("write", write_);
    if (sync_data_) begin_chained_step("fdatasync", datasync_);
    begin_chained_step(step, publish);
    if (!writes()) return;
    if (sync_data_)
      first_.add(written, datasync_);
    else
      first_.add(written, publish);
  }

  task<publish_outcome> run() {
    co_await first_;
    publish_outcome done;
    done.written = writes() ? linked_ops::result(write_) : 0;
    if (!done.wrote(unwritten_)) co_return done;  // nothing after the write ran
    if (sync_data_) {
      check_sync(linked_ops::result(datasync_), true, target_);
      co_await publish_;  // throws what the publish says
    } else {
      publish_.await_resume();
    }
    co_return done;
  }

 private:
  bool writes() const noexcept { return !unwritten_.bytes.empty(); }

  unwritten_bytes unwritten_;
  prepared_op<write_sqe> write_;
  decltype(ops::fsync(std::declval<io_ring&>(), 0, true)) datasync_;
  Publish& publish_;
  const std::filesystem::path& target_;
  bool sync_data_;
  linked_ops first_;  // declared after the ops: cancels and waits before they go
};

}  // namespace tempfile::detail
