// Faults a server meets: io_uring refused, descriptor limits, full disks, killed processes.

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tempfile/tempfile.hpp>

#include <cstddef>
#include <cstring>
#include <string>

#include "support.hpp"

using namespace tempfile;

namespace {

/// Runs `body` in a forked child; returns its exit status (or 128 + signal).
template <class Body>
int in_child(Body body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(body());
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// Makes io_uring_setup fail with `error` in this process, as a seccomp policy would.
bool refuse_io_uring(int error) {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<unsigned>(error) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

}  // namespace

TEST_CASE("a ring refused by seccomp throws system_error naming the cause", "[fault]") {
  for (const int error : {ENOSYS, EPERM}) {
    CAPTURE(error);
    const int status = in_child([error] {
      if (!refuse_io_uring(error)) return 3;
      try {
        io_ring ring;
      } catch (const std::system_error& e) {
        const bool names_cause = std::string(e.what()).find("io_uring") != std::string::npos;
        return e.code().value() == error && names_cause ? 0 : 1;
      }
      return 2;  // constructed despite the refusal
    });
    CHECK(status == 0);
  }
}
