"""Check newman's JUnit report against postman_collection.json: every request ran, none failed.

newman's exit code says no assertion failed; this also says nothing was skipped (a request
left out of the run by a script, a folder that vanished from the collection) and that each
request ran at least one test.

    python scripts/check_newman_report.py [collection.json] [report.xml]
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def requests(items: list[dict], parents: tuple[str, ...] = ()) -> Iterator[tuple[str, dict]]:
    """Every request of a collection (or folder), with its path "folder / sub-folder / request", the way
    newman's JUnit reporter names it."""
    for item in items:
        path = (*parents, item["name"])
        if "item" in item:
            yield from requests(item["item"], path)
        else:
            yield " / ".join(path), item


def problems(collection: dict, report: ElementTree.Element) -> list[str]:
    suites = {suite.get("name", ""): suite for suite in report.iter("testsuite")}
    found = []
    for path, _ in requests(collection["item"]):
        suite = suites.get(path)
        if suite is None:
            found.append(f"{path}: not run")
            continue
        failed = int(suite.get("failures") or 0) + int(suite.get("errors") or 0)
        if failed:
            found.append(f"{path}: {failed} failed")
        elif int(suite.get("tests") or 0) == 0:
            found.append(f"{path}: ran no test")
    return found


def main(argv: list[str]) -> int:
    collection_file = Path(argv[0]) if argv else ROOT / "postman_collection.json"
    report_file = Path(argv[1]) if len(argv) > 1 else ROOT / "artifacts" / "newman.xml"
    if not report_file.exists():
        print(f"{report_file} is missing: newman did not write its report")
        return 1
    collection = json.loads(collection_file.read_text())
    found = problems(collection, ElementTree.parse(report_file).getroot())
    total = sum(1 for _ in requests(collection["item"]))
    if found:
        print(f"{len(found)} of {total} requests in {collection_file.name} did not pass:")
        print("\n".join(f"  {line}" for line in found))
        return 1
    print(f"newman report: all {total} requests of {collection_file.name} ran and passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
