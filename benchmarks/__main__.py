"""Run every benchmark and write benchmarks/results.json.

Each ``benchmarks/bench_*.py`` exposes ``run() -> {name: {"value", "unit",
"target"}}``. Figures are printed one per line; nothing here asserts a time
(tests never do): the targets are for people reading the numbers.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    wanted = set(argv)
    results: dict[str, dict[str, Any]] = {}
    failed = []
    for path in sorted(HERE.glob("bench_*.py")):
        if wanted and path.stem not in wanted:
            continue
        module = importlib.import_module(f"benchmarks.{path.stem}")
        try:
            figures = module.run()
        except Exception:  # one broken benchmark must not hide the others
            traceback.print_exc()
            failed.append(path.stem)
            continue
        for name, figure in figures.items():
            results[name] = figure
            print(format_line(name, figure), flush=True)
    (HERE / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def format_line(name: str, figure: dict[str, Any]) -> str:
    value, unit, target = figure["value"], figure["unit"], figure.get("target")
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    goal = "" if target is None else f"  (target {target} {unit})"
    return f"{name}: {shown} {unit}{goal}"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
