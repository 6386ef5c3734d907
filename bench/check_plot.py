#!/usr/bin/env python3
"""Runs tempfile-bench with a tiny sweep and --plot, then checks the SVG: it parses as XML,
has one panel per scenario, and each panel a line for the library and every baseline."""
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"
POOL = "sync calls on N threads (N = concurrency, at most 128)"
RAW = "raw liburing, N files in flight"
EXPECTED = {
    "create": {"library", "sync open(O_TMPFILE)+pwrite+close", POOL, RAW},
    "named": {"library", "sync mkstemp+pwrite+unlink+close", POOL, RAW},
}


def main(bench):
    with tempfile.TemporaryDirectory() as work:
        plot = f"{work}/plot.svg"
        subprocess.run([bench, "--dir", work, "--scenario", "create", "--scenario", "named",
                        "--sweep", "1,4", "--files", "16", "--repetitions", "1",
                        "--plot", plot], check=True, stdout=subprocess.DEVNULL)
        root = ET.parse(plot).getroot()
    if root.tag != SVG + "svg":
        sys.exit(f"root element is {root.tag}, not svg")
    panels = {p.get("data-scenario"): p for p in root.iter(SVG + "g")
              if p.get("class") == "panel"}
    if set(panels) != set(EXPECTED):
        sys.exit(f"panels {sorted(panels)}, expected {sorted(EXPECTED)}")
    for scenario, panel in panels.items():
        lines = {g.get("data-series"): g for g in panel.iter(SVG + "g")
                 if g.get("class") == "series"}
        if set(lines) != EXPECTED[scenario]:
            sys.exit(f"{scenario}: series {sorted(lines)}, expected {sorted(EXPECTED[scenario])}")
        for name, line in lines.items():
            points = line.find(SVG + "polyline").get("points").split()
            # The pool runs only with more than one file in flight.
            wanted = 1 if name == POOL else 2
            if len(points) != wanted:
                sys.exit(f"{scenario} / {name}: {len(points)} points, expected {wanted}")
    print("plot ok:", ", ".join(sorted(panels)))


if __name__ == "__main__":
    main(sys.argv[1])
