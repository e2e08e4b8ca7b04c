"""The metric names a PromQL expression reads (enough of PromQL for the dashboards' and rules' queries)."""

from __future__ import annotations

import re

KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
                      "offset", "bool", "inf", "nan"})
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAMES = re.compile(r"(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*")  # not the unit of a number (5m)


def metric_names(expr: str) -> set[str]:
    text = _LABEL_LISTS.sub(" ", _RANGES.sub(" ", _MATCHERS.sub(" ", _STRINGS.sub('""', expr))))
    names = set()
    for match in _NAMES.finditer(text):
        following = text[match.end():].lstrip()
        if following.startswith("(") or match.group().lower() in KEYWORDS:
            continue  # a function, or an operator's keyword
        names.add(match.group())
    return names
