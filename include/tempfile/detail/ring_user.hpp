#pragma once
/// \file
/// `detail::ring_user`: an object that uses a ring between operations, told when it goes.

namespace tempfile {

class io_ring;

namespace detail {

/// Something that uses a ring between operations: a file. The ring tells each user it still
/// has when it is destroyed first, while it still works, so the user can finish with it
/// (wait out its operations, write back what it buffers); the user is detached afterwards
/// and `attached_ring()` is null.
class ring_user {
 public:
  ring_user(const ring_user&) = delete;
  ring_user& operator=(const ring_user&) = delete;

 protected:
  /// What the user does when the ring goes first, called from `~io_ring` before its
  /// operations are cancelled (null: nothing). A function, not a virtual: files stay
  /// free of vtables.
  using ring_destroyed_fn = void (*)(ring_user& self) noexcept;

  ring_user(io_ring* ring, ring_destroyed_fn on_ring_destroyed) noexcept
      : on_ring_destroyed_(on_ring_destroyed) {
    attach(ring);
  }
  ~ring_user() { detach(); }
  io_ring* attached_ring() const noexcept { return ring_; }
  /// Hands what is queued to the kernel now, without waiting, for work started in the
  /// background (a write-behind): the loop would submit it only when its coroutines next
  /// wait, and a writer that keeps filling its next buffer would never let it run meanwhile.
  void submit_now() const;
  /// Exchanges the rings the two users are attached to (for move operations).
  void swap_rings(ring_user& other) noexcept;

 private:
  friend class tempfile::io_ring;
  void attach(io_ring* ring) noexcept;
  void detach() noexcept;

  io_ring* ring_ = nullptr;
  ring_destroyed_fn on_ring_destroyed_;
  ring_user* prev_ = nullptr;  // the ring's intrusive list of users
  ring_user* next_ = nullptr;
};

}  // namespace detail
}  // namespace tempfile
