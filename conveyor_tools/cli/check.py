"""`conveyor check k8s [OVERLAY...]`: build the Kubernetes overlays and validate them offline (k8s_check)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from conveyor_tools import k8s_check


def register(sub: argparse._SubParsersAction, words: Sequence[str] = ()) -> None:
    p = sub.add_parser("check", help="offline checks of the deployment files (k8s: the kustomize overlays)")
    what = p.add_subparsers(dest="what", required=True)
    k8s = what.add_parser("k8s", help="build deploy/k8s overlays; validate every object, the secrets it reads, "
                                      "the workers' queues")
    k8s.add_argument("overlays", nargs="*", default=list(k8s_check.OVERLAYS),
                     help=f"overlays under deploy/k8s/overlays (default: {' '.join(k8s_check.OVERLAYS)})")
    k8s.set_defaults(func=lambda args: k8s_check.run(args.overlays))
