"""A check process forked by conveyor.model_check_server is as isolated as a fresh interpreter was.

Real check processes: each file below reports, from inside the check, what a file's code can see there (in the
exception it raises while loading, which the refusal quotes).
"""

from __future__ import annotations

import json
import pickle
import re

import pytest

from conveyor.model_check import check_model
from conveyor.schemas.datasets import DatasetSchema

SCHEMA = DatasetSchema.model_validate({"name": "roaster", "task": "regression", "target": "y",
                                       "features": [{"name": "t1", "type": "float"}, {"name": "h", "type": "int"}]})
SECRET = "conveyor-test-secret-1c0ffee"
REPORT = """
import json, os, resource, sys
fds = sorted(int(fd) for fd in os.listdir('/proc/self/fd'))
with open('/proc/self/environ', 'rb') as f:
    initial_environment = f.read().decode(errors='replace')
import sklearn
seen = getattr(sklearn, 'poisoned_by_an_earlier_check', False)
sklearn.poisoned_by_an_earlier_check = True
raise RuntimeError('REPORT' + json.dumps({
    'environment': dict(os.environ), 'initial_environment': initial_environment, 'fds': fds,
    'cwd': os.getcwd(), 'session_leader': os.getsid(0) == os.getpid(), 'group_leader': os.getpgid(0) == os.getpid(),
    'address_space': resource.getrlimit(resource.RLIMIT_AS)[0], 'seen_poison': seen}) + 'END')
"""


class ReportOnLoad:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (REPORT,)


def _report() -> dict:
    verdict = check_model(pickle.dumps(ReportOnLoad()), "model.pkl", SCHEMA)
    assert not verdict.accepted
    found = re.search(r"REPORT(.*)END", verdict.reason)
    assert found, verdict.reason
    report: dict = json.loads(found.group(1))
    return report


def test_a_check_sees_none_of_the_parents_environment_descriptors_or_earlier_checks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_TEST_TOKEN", SECRET)
    first, second = _report(), _report()
    for report in (first, second):
        assert SECRET not in json.dumps(report["environment"]) and SECRET not in report["initial_environment"]
        assert "CONVEYOR_TEST_TOKEN" not in report["environment"]
        # Its own empty directory, as HOME and TMPDIR too, and PyCaret's log in it.
        assert report["cwd"].split("/")[-1].startswith("conveyor-model-check-")
        assert report["environment"]["HOME"] == report["environment"]["TMPDIR"] == report["cwd"]
        assert report["environment"]["PYCARET_CUSTOM_LOGGING_PATH"] == f"{report['cwd']}/pycaret.log"
        # stdin, stdout, stderr and the descriptor listing itself: none of the server's pipes or log files.
        assert len(report["fds"]) == 4 and report["fds"][:3] == [0, 1, 2], report["fds"]
        assert report["session_leader"] and report["group_leader"]  # the timeout kills its whole group
        assert report["address_space"] == 2048 * 1024 * 1024  # MODEL_CHECK_MEMORY_MB's default
    assert first["cwd"] != second["cwd"]
    # What a file's code changed in a module stays in its own process.
    assert not first["seen_poison"] and not second["seen_poison"]
