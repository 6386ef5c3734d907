#pragma once
/// \file
/// `detail::op_scope`: the operations of one task tree, cancelled without blocking.

#include <coroutine>

#include <tempfile/detail/ring_op.hpp>

namespace tempfile {

class io_ring;

namespace detail {

/// The ops of one task tree (an `asio::async_run`'s task and everything it awaits). Every
/// op issued while a coroutine of the tree runs carries the scope, so the tree can be
/// cancelled from outside without waiting for the kernel: `cancel` asks the kernel to
/// cancel the tree's ops in flight and stops resuming the tree's coroutines; once the
/// kernel has given every op back, it resumes `on_drained`, which may then destroy the
/// tree at no cost (nothing of it is in flight). Used on the ring's thread only.
class op_scope {
 public:
  op_scope() = default;
  op_scope(const op_scope&) = delete;
  op_scope& operator=(const op_scope&) = delete;

  /// Makes this scope the ring's current one while it lives: ops issued meanwhile, and by
  /// the coroutines they resume later, belong to the scope.
  class entered {
   public:
    entered(io_ring& ring, op_scope& scope) noexcept;
    ~entered();
    entered(const entered&) = delete;
    entered& operator=(const entered&) = delete;

   private:
    io_ring& ring_;
    op_scope* outer_;
  };

  bool cancelled() const noexcept { return cancelled_; }
  /// Requests the cancellation of every op of the scope and holds its coroutines from now
  /// on; `on_drained` is resumed by the ring once none of its ops is in flight.
  void cancel(io_ring& ring, std::coroutine_handle<> on_drained);
  /// Releases the ops still carrying the scope (those of objects that outlive the tree);
  /// call it after destroying the tree, before the scope goes.
  void end(io_ring& ring) noexcept;

 private:
  friend class tempfile::io_ring;
  /// Keeps a completed op (any op of a chain) from its coroutine.
  void hold(ring_op& op) noexcept;

  op_list in_flight_;  // placed ops (of a linked chain, its first)
  op_list held_;       // completed after the cancellation: their coroutines stay suspended
  std::coroutine_handle<> on_drained_;
  bool cancelled_ = false;
  bool used_ = false;  // some op carried the scope
};

}  // namespace detail
}  // namespace tempfile
