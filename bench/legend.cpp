#include "legend.hpp"

#include <algorithm>
#include <array>

namespace tempfile_bench {
namespace {

constexpr std::string_view io_wq_hand_off =
    "every file waits for io-wq hand-offs (O_TMPFILE opens and small writes run on kernel "
    "worker threads), dearer than a whole sync call; more in flight hides them only where "
    "sync calls are dear (bench/README.md, \"Idle CPUs\" and \"The same rows where system "
    "calls are 4x cheaper\")";

constexpr std::array legends = {
    scenario_legend{"create",
                    "one unnamed file per op: temporary_file::create, write, close vs "
                    "open(O_TMPFILE), pwrite, close on 1 thread and on N, and raw liburing "
                    "(linked openat_direct, write, close_direct; N in flight)",
                    io_wq_hand_off},
    scenario_legend{"named",
                    "one named file per op: named_temporary_file::create, write, close "
                    "(deletes) vs mkstemp, pwrite, unlink, close on 1 thread and on N, and "
                    "raw liburing (linked openat_direct, write, unlinkat, close_direct)",
                    io_wq_hand_off},
    scenario_legend{"publish",
                    "one durably published file per op: temporary_file with durable(true), "
                    "write, link, close vs the same sync calls on 1 thread and on N, and raw "
                    "liburing (openat; linked write, fdatasync; linked linkat, fsync(dir), close)",
                    "on tmpfs nothing waits for a disk and each blocking step is an io-wq "
                    "hand-off, dearer than the sync call; one at a time on a disk, both wait "
                    "for the same journal commits (bench/README.md, \"Durable publishing\")"},
    scenario_legend{"seqwrite",
                    "one write call per op into a temporary_file (256 KiB buffer, two "
                    "written behind) vs pwrite, fwrite, the fastest pwrite chunk (best), and "
                    "raw liburing of the same design (256 KiB buffers, two written behind)",
                    "against the best chunk: each small call is copied into the buffer, then "
                    "by the kernel on an io-wq worker that wakes the writer and frees pages "
                    "across CPUs, where one large pwrite copies once (bench/README.md, "
                    "\"Where the rest of the seqwrite gap goes\")"},
    scenario_legend{"spool",
                    "one append per op to an in-memory spooled_temporary_file vs "
                    "std::vector<char> reserve + append",
                    ""},
    scenario_legend{"nop",
                    "one ops::nop per op, N coroutines on one ring vs raw liburing in "
                    "batches of N",
                    "each NOP also resumes the coroutine awaiting it, which raw liburing's "
                    "loop does not (bench/README.md, \"tempfile_nop_bench\")"},
};

}  // namespace

const scenario_legend* find_legend(std::string_view scenario) noexcept {
  const auto found = std::find_if(legends.begin(), legends.end(),
                                  [&](const scenario_legend& l) { return l.scenario == scenario; });
  return found == legends.end() ? nullptr : &*found;
}

}  // namespace tempfile_bench
