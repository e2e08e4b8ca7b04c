"""Write deploy/grafana/dashboards/*.json, or with --check say which differ from the generator's output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conveyor_tools.grafana_dashboards.build import DASHBOARDS, render

OUT = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conveyor_tools.grafana_dashboards", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file differs")
    args = parser.parse_args(argv)
    stale = []
    for name in DASHBOARDS:
        path = args.out / f"{name}.json"
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("out of date (run python -m conveyor_tools.grafana_dashboards): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
