"""Every benchmark in turn, each as its own process (so none inherits another's warm state).

    python -m bench.run_all [--quick]

Quick mode passes ``--quick`` to each. The benchmarks that need PostgreSQL create their
own throw-away databases on 127.0.0.1:5432. A failing benchmark is reported and the rest
still run; the exit status is 1 when any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

BENCHMARKS = ("tsa_ocsp", "stamping", "verify", "issuance", "bulk_import", "status_lookup",
              "status_list", "checks")


def main() -> None:
    """Run the benchmarks named on the command line (default: all)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="each benchmark's quick mode")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"which benchmarks (default: all): {', '.join(BENCHMARKS)}")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(unknown)}")
    failed = []
    for name in args.names or BENCHMARKS:
        print(f"\n## bench.{name}", flush=True)
        started = time.monotonic()
        command = [sys.executable, "-m", f"bench.{name}", *(["--quick"] if args.quick else [])]
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(name)
        print(f"## bench.{name}: {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
