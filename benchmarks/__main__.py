"""`python -m benchmarks [part ...]`: run the named parts (default: all) and print their figures."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

PARTS = ["ingest", "annotation", "export", "tuning", "jobs", "generation", "documents", "novelty", "limiter",
         "curation", "flan"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("parts", nargs="*", default=PARTS, help=f"which parts: {', '.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args, rest = parser.parse_known_args(argv)
    results = {}
    for part in args.parts:
        if part not in PARTS:
            parser.error(f"unknown part '{part}'; choose from {', '.join(PARTS)}")
        module = importlib.import_module(f"benchmarks.{part}")
        started = time.time()
        print(f"== {part} ==", flush=True)
        results[part] = module.run(quick=args.quick, extra=rest)
        print(f"== {part} done in {time.time() - started:.0f} s ==", flush=True)
    print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
