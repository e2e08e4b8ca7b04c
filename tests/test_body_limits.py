"""Limits before parsing, on the running services (their processes, their memory as /proc reads it): a large
body without a token is refused before it is read and costs the service no memory; a declared length over the
limit is refused at once; a chunked body is cut off while it streams; the CSV and the model uploads have the
upload limit.

The limits are set small (MAX_BODY_MB and MAX_UPLOAD_MB take fractions) so that the bodies are too; the one
exception is the 300 MB body the issue measured, made lazily from one repeated chunk.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from conveyor_tools.stack import Stack
from tests.fuzz_stack import running_stack

MB = 1024 * 1024
MAX_BODY_MB, MAX_UPLOAD_MB = 0.25, 1
# What a refused body may cost the service: the bound.
RSS_BOUND = 50 * MB
# A JSON-looking piece of a rows body, repeated as long as the test needs.
PIECE = b'{"rows": [' + b'{"H_data": 1.0, "T_data_1_1": 2.0},' * 30_000

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack({"MAX_BODY_MB": str(MAX_BODY_MB), "MAX_UPLOAD_MB": str(MAX_UPLOAD_MB)},
                       retraining=False) as s:
        yield s


def pid_of(stack: Stack, name: str) -> int:
    return next(c.proc.pid for c in stack.components if c.name == name)


def memory(pid: int, field: str = "VmRSS") -> int:
    """A /proc/<pid>/status figure (VmRSS: resident now, VmHWM: the most it has been), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for process {pid}")


class PeakMemory:
    """The most a process held while the block ran: sampled every few milliseconds, and its high-water mark."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = memory(pid)
        self.peak = self.before
        self._hwm_before = memory(pid, "VmHWM")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, memory(self.pid))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        hwm = memory(self.pid, "VmHWM")
        if hwm > self._hwm_before:  # it reached a new high between two samples: that high is the peak
            self.peak = max(self.peak, hwm)

    @property
    def growth(self) -> int:
        return self.peak - self.before


class Body:
    """`size` bytes of JSON-looking text made as they are sent; `sent` says how far the sending got."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.sent < self.size:
            piece = PIECE[: min(len(PIECE), self.size - self.sent)]
            self.sent += len(piece)
            yield piece


def rows_url(stack: Stack) -> str:
    return f"{stack.ml_url}/ml_data_api/datasets/product_quality/training/rows"


def warm_up(stack: Stack) -> None:
    # The first requests import and allocate what every request needs: not what a refused body costs.
    for _ in range(3):
        httpx.post(rows_url(stack), json={"rows": []}, timeout=30)
        httpx.post(rows_url(stack), json={"rows": []}, headers=write(stack), timeout=30)


def write(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.config.api_token}"}


def first_answer(url: str, headers: dict[str, str], first_chunk: bytes, timeout: float = 10) -> tuple[bytes, float]:
    """The status line of the answer to a request whose body is only begun (its first chunk sent), and how long
    it took: proof that the service answered without waiting for the rest."""
    parts = urlsplit(url)
    started = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode() + first_chunk)
        answer = sock.recv(4096)
    return answer.split(b"\r\n", 1)[0], time.monotonic() - started


def test_a_300_mb_body_without_a_token_is_refused_before_it_is_read(stack: Stack) -> None:
    warm_up(stack)
    size = 300 * MB
    status_line, took = first_answer(rows_url(stack), {"Content-Type": "application/json",
                                                        "Content-Length": str(size)}, PIECE)
    assert status_line == b"HTTP/1.1 401 Unauthorized" and took < 5, (status_line, took)
    # And the whole of it sent: the service throws it away as it comes, holding none of it.
    body = Body(size)
    with PeakMemory(pid_of(stack, "ml_data_api")) as peak:
        started = time.monotonic()
        response = httpx.post(rows_url(stack), content=body, timeout=120,
                              headers={"Content-Type": "application/json", "Content-Length": str(size)})
        took = time.monotonic() - started
    assert response.status_code == 401, response.text
    assert isinstance(response.json()["detail"], str)
    print(f"300 MB without a token: 401 after {took:.1f} s, {body.sent / MB:.0f} MB sent, RSS {peak.before / MB:.0f}"
          f" MB before, peak {peak.peak / MB:.0f} MB (+{peak.growth / MB:.1f} MB)")
    assert peak.growth < RSS_BOUND, f"ml_data_api grew by {peak.growth / MB:.0f} MB"


def test_a_declared_length_over_the_limit_is_413_at_once(stack: Stack) -> None:
    size = 100 * MB
    status_line, took = first_answer(rows_url(stack), {**write(stack), "Content-Type": "application/json",
                                                        "Content-Length": str(size)}, PIECE[:1000])
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large" and took < 5, (status_line, took)
    response = httpx.post(rows_url(stack), content=b"x" * (int(MAX_BODY_MB * MB) + 1), timeout=30,
                          headers={**write(stack), "Content-Type": "application/json"})
    assert response.status_code == 413 and "MAX_BODY_MB" in response.json()["detail"], response.text


def test_a_chunked_body_is_cut_off_while_it_streams(stack: Stack) -> None:
    warm_up(stack)
    body = Body(200 * MB)
    with PeakMemory(pid_of(stack, "ml_data_api")) as peak:
        try:
            # No Content-Length: httpx sends a generator chunked.
            response: httpx.Response | None = httpx.post(
                rows_url(stack), content=body, headers={**write(stack), "Content-Type": "application/json"},
                timeout=60)
        except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError):
            response = None  # the service closed the connection after its answer, before we read it
    print(f"200 MB chunked: {response.status_code if response else 'connection closed'} after "
          f"{body.sent / MB:.1f} MB sent; RSS +{peak.growth / MB:.1f} MB")
    if response is not None:
        assert response.status_code == 413, response.text
        assert "MAX_BODY_MB" in response.json()["detail"]
    else:
        assert '/training/rows HTTP/1.1" 413' in stack.log_tail("ml_data_api", 20)
    # What the sockets buffer between the two ends is sent too; far from all of it.
    assert body.sent < 40 * MB, f"{body.sent / MB:.0f} MB were taken in before the cut"
    assert peak.growth < RSS_BOUND, f"ml_data_api grew by {peak.growth / MB:.0f} MB"
    # Refused, not failed: no traceback in the service's log.
    assert "Traceback" not in stack.log_tail("ml_data_api", 200)


def test_a_csv_over_the_upload_limit_is_413(stack: Stack) -> None:
    url = f"{stack.ml_url}/ml_data_api/datasets/product_quality/training/csv"
    too_large = httpx.post(url, files={"file": ("rows.csv", b"a,b\n" + b"1,2\n" * (MAX_UPLOAD_MB * MB // 4),
                                                "text/csv")}, headers=write(stack), timeout=30)
    assert too_large.status_code == 413 and "MAX_UPLOAD_MB" in too_large.json()["detail"], too_large.text
    # Over the body limit and under the upload limit: it passes the guard (and the dataset is unknown).
    within = httpx.post(url, files={"file": ("rows.csv", b"a,b\n" + b"1,2\n" * int(MAX_BODY_MB * MB // 2), "text/csv")},
                        headers=write(stack), timeout=30)
    assert within.status_code == 404, within.text
    raw = httpx.post(url, content=b"a,b\n" + b"1,2\n" * (MAX_UPLOAD_MB * MB // 4), timeout=30,
                     headers={**write(stack), "Content-Type": "text/csv"})
    assert raw.status_code == 413, raw.text


def test_a_model_over_the_upload_limit_is_413(stack: Stack) -> None:
    url = f"{stack.qm_url}/queue_manager/algorithms"
    response = httpx.post(url, data={"name": "big", "dataset": "product_quality"},
                          files={"file": ("model.pkl", b"\x80" * (MAX_UPLOAD_MB * MB + 1), "application/octet-stream")},
                          headers=write(stack), timeout=30)
    assert response.status_code == 413 and "MAX_UPLOAD_MB" in response.json()["detail"], response.text
    # Chunked (no length declared): cut off at the limit as it streams.
    head = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="model.pkl"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n")
    body = (piece for piece in [head, *[b"x" * (256 * 1024)] * (4 * MAX_UPLOAD_MB + 4)])
    try:
        streamed: int | None = httpx.post(url, content=body, timeout=30, headers={
            **write(stack), "Content-Type": "multipart/form-data; boundary=b"}).status_code
    except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError):
        streamed = None
    assert streamed in (413, None)
    assert 'POST /queue_manager/algorithms HTTP/1.1" 413' in stack.log_tail("queue_manager", 5)
