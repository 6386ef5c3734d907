#!/usr/bin/env python3
"""In-memory spooling, side by side: Python's SpooledTemporaryFile, this library's
spooled_temporary_file and a std::vector reserve+append loop, each appending 4 KiB chunks
to 1 MiB. Usage: bench/spool_vs_python.py BUILD_DIR (the one holding bench/tempfile_spool_bench)."""
import json
import subprocess
import sys
import tempfile
import timeit

CHUNK = b"s" * 4096
TOTAL = 1 << 20


def python_append():
    with tempfile.SpooledTemporaryFile(max_size=TOTAL) as f:
        for _ in range(TOTAL // len(CHUNK)):
            f.write(CHUNK)


def python_bytes_per_second(repetitions=9):
    runs = sorted(timeit.repeat(python_append, number=50, repeat=repetitions))
    return TOTAL * 50 / runs[len(runs) // 2]


def cpp_bytes_per_second(build_dir):
    out = subprocess.run(
        [f"{build_dir}/bench/tempfile_spool_bench", "--benchmark_filter=append_1MiB/1$",
         "--benchmark_repetitions=9", "--benchmark_report_aggregates_only=true",
         "--benchmark_format=json"],
        check=True, capture_output=True, text=True).stdout
    medians = {b["run_name"]: b["bytes_per_second"]
               for b in json.loads(out)["benchmarks"] if b["aggregate_name"] == "median"}
    return medians["spool_append_1MiB/1"], medians["vector_append_1MiB/1"]


def main():
    build_dir = sys.argv[1] if len(sys.argv) > 1 else "build/release"
    python = python_bytes_per_second()
    library, vector = cpp_bytes_per_second(build_dir)
    python_again = python_bytes_per_second()  # before and after: the machine's drift shows
    python = (python + python_again) / 2
    print(f"Python {sys.version.split()[0]} SpooledTemporaryFile: {python / 1e9:6.2f} GB/s")
    print(f"spooled_temporary_file:                  {library / 1e9:6.2f} GB/s")
    print(f"std::vector reserve+append:              {vector / 1e9:6.2f} GB/s")
    print(f"library / Python: {library / python:.2f}x   library / vector: {library / vector:.2f}x")


if __name__ == "__main__":
    main()
