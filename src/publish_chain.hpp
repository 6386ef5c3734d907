#pragma once
// A publish in linked chains: the file's last bytes with the fdatasync or the op that
// makes the name, and the name with the directory's sync.

#include <sys/uio.h>  // RWF_DSYNC

#include <cassert>
#include <exception>
#include <filesystem>
#include <optional>
#include <string_view>
#include <utility>

#include <tempfile/detail/ring_op.hpp>
#include <tempfile/ops.hpp>

#include "directory_sync.hpp"
#include "directory_sync_batches.hpp"
#include "publish.hpp"
#include "publish_steps.hpp"
#include "self_syncing_write.hpp"

namespace tempfile::detail {

/// What a publish does besides the op that makes the name.
struct chain_plan {
  unwritten_bytes unwritten;    ///< written first
  bool sync_data = false;       ///< an fdatasync before the name appears
  bool sync_directory = false;  ///< the target's directory synced once the name is there
};

/// `publish` (`step`: an op giving the file open as `fd` the name `target`) with what
/// `plan` puts around it, in as few round trips as the kernel's chain rule allows (see
/// `linked_ops`): without a sync, the unwritten bytes and the name are one chain; with
/// one, the bytes and the fdatasync are, and the name follows once the sync succeeded (a
/// failed fdatasync does not break a chain, so nothing may be linked after it), unless
/// the bytes are the whole file and no other such write is in flight on the thread
/// (`self_syncing_write`): then their write syncs itself (RWF_DSYNC), and a failed sync
/// fails the write, which does break the chain. The directory's sync is one chain
/// with the name (`directory_sync`), or, while another sync of that directory is under
/// way, shared with the names made meanwhile once the name is there
/// (`directory_sync_batches`). A failure is thrown, but for the write's (see
/// `publish_outcome::written`) and the directory's sync, after the name appeared (see
/// `publish_outcome::directory_failure`).
template <class Publish>
class publish_chain {
 public:
  publish_chain(io_ring& ring, int fd, const std::filesystem::path& target,
                const chain_plan& plan, const char* step, Publish& publish)
      : ring_(ring),
        unwritten_(plan.unwritten),
        self_syncing_(plan.sync_data && writes() && unwritten_.whole_file),
        write_syncs_data_(static_cast<bool>(self_syncing_)),
        write_(ring, {fd, unwritten_.bytes, unwritten_.offset, write_syncs_data_ ? RWF_DSYNC : 0}),
        datasync_(ops::fsync(ring, fd, true)),
        publish_(publish),
        target_(target),
        sync_data_(plan.sync_data),
        sync_directory_(plan.sync_directory) {
    assert(unwritten_.bytes.size() <= max_transfer);
    assert(sync_data_ || !plan.sync_directory || !writes());
    // The name may follow the write in one chain when nothing else must come between: no
    // data sync, or one the write makes itself (a failed or short write breaks the chain).
    // With a directory to sync, only if a sync of it is under way to join; else the name
    // goes in the directory's own chain.
    name_in_first_chain_ =
        writes() && (!sync_data_ ||
                     (write_syncs_data_ && (!sync_directory_ || batches().busy(directory()))));
    const int written = static_cast<int>(unwritten_.bytes.size());
    if (writes()) begin_chained_step("write", write_);
    if (sync_data_)
      begin_chained_step("fdatasync", write_syncs_data_ ? static_cast<ring_op&>(write_) : datasync_);
    begin_chained_step(step, publish);
    if (writes()) {
      before_name_.emplace(write_);
      if (name_in_first_chain_)
        before_name_->add(written, publish);
      else if (!write_syncs_data_)
        before_name_->add(written, datasync_);
    } else if (sync_data_) {
      before_name_.emplace(datasync_);
    } else if (!sync_directory_) {
      before_name_.emplace(publish);
      name_in_first_chain_ = true;  // the chain is the name alone
    }
  }

  task<publish_outcome> run() {
    publish_outcome done;
    done.written = 0;
    if (before_name_) {
      linked_ops& chain = *before_name_;  // named: g++ 12 would copy `*before_name_`
      co_await chain;
      self_syncing_.release();
      if (writes()) done.written = linked_ops::result(write_);
      if (!done.wrote(unwritten_)) co_return done;  // nothing after the write ran
      if (sync_data_ && !write_syncs_data_) check_sync(linked_ops::result(datasync_), true, target_);
      if (name_in_first_chain_) {
        publish_.await_resume();  // the name was in the chain: throws what it says
        if (sync_directory_) done.directory_failure = co_await share_directory_sync();
        co_return done;
      }
    }
    if (!sync_directory_) {
      co_await publish_;
      co_return done;
    }
    const std::string_view dir = directory();
    if (!batches().busy(dir)) {
      directory_.emplace(ring_, dir);  // takes a slot
      if (*directory_) own_sync_.emplace(batches(), dir);
    }
    if (own_sync_) {
      linked_ops& chain = directory_->chain(&publish_);
      co_await chain;
      own_sync_.reset();  // the names made meanwhile get their sync now
      directory_->check_opened();
      publish_.await_resume();  // throws what the publish says
      done.directory_failure = directory_->sync_failure();
    } else {  // a sync of the directory is under way, or no slot is free: join the next
      co_await publish_;
      done.directory_failure = co_await share_directory_sync();
    }
    co_return done;
  }

 private:
  /// Once the name is there: waits for a sync of its directory that covers it. Should the
  /// task go meanwhile, the publish did not complete: its name is undone as an abandoned
  /// op's would be (a link's removed; a rename has nothing to undo).
  task<std::exception_ptr> share_directory_sync() {
    struct undone_unless_synced {
      ring_op* name;
      ~undone_unless_synced() {
        if (name) undo_success(*name);
      }
    } pending{&publish_};
    std::exception_ptr failure = co_await batches().join(directory());
    pending.name = nullptr;
    co_return failure;
  }

  bool writes() const noexcept { return !unwritten_.bytes.empty(); }
  std::string_view directory() const noexcept { return directory_of(target_); }
  directory_sync_batches& batches() const { return ring_.extension<directory_sync_batches>(); }

  io_ring& ring_;
  unwritten_bytes unwritten_;
  self_syncing_write self_syncing_;  // the unwritten bytes are the whole file, and its turn
  bool write_syncs_data_;            // so the write carries RWF_DSYNC
  prepared_op<write_sqe> write_;
  decltype(ops::fsync(std::declval<io_ring&>(), 0, true)) datasync_;
  Publish& publish_;
  const std::filesystem::path& target_;
  bool sync_data_;
  bool sync_directory_;
  bool name_in_first_chain_ = false;  // the op that makes the name is in `before_name_`
  std::optional<directory_sync_batches::own_sync> own_sync_;  // released once its chain is done
  std::optional<directory_sync> directory_;
  std::optional<linked_ops> before_name_;  // declared after the ops: cancels and waits first
};

}  // namespace tempfile::detail
