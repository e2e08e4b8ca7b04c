import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from conveyor.api.errors import NotFound, PayloadTooLarge, Unprocessable
from conveyor.schemas.algorithms import (
    METRICS_EXAMPLE,
    Algorithm,
    AlgorithmPatch,
    HoldoutWindow,
    Stage,
    StageUpdate,
    check_metrics,
)
from conveyor.schemas.names import check_resource_name
from queue_manager import algorithms_store
from queue_manager.deps import SettingsDep

router = APIRouter(prefix="/queue_manager/algorithms", tags=["algorithms"])
CHUNK = 1024 * 1024


async def _read_limited(upload: UploadFile, limit: int, what: str) -> bytes:
    parts, size = [], 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"{what} is larger than the limit of {limit / 1024 / 1024:g} MB (MAX_UPLOAD_MB)"
            )
        parts.append(chunk)
    if size == 0:
        raise Unprocessable(f"{what} is empty")
    return b"".join(parts)


def _metrics(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise Unprocessable(f"metrics must be a JSON object, e.g. {METRICS_EXAMPLE}: {exc}") from exc
    if not isinstance(value, dict):
        raise Unprocessable(f"metrics must be a JSON object, e.g. {METRICS_EXAMPLE}")
    try:
        return check_metrics(value)
    except ValueError as exc:  # an integer beyond int64, NaN, a NUL: what the stores or JSON cannot hold
        raise Unprocessable(str(exc)) from exc


def _text_fields(**fields: str) -> None:
    """The guard refuses NUL in paths, queries and JSON, but does not read inside multipart forms."""
    for field, value in fields.items():
        if "\x00" in value:
            raise Unprocessable(f"the form field {field!r} holds a NUL character (\\u0000), which cannot be stored: "
                                "remove it")


def _model_filename(upload: UploadFile) -> str:
    filename = upload.filename or "model"
    if any(not char.isprintable() for char in filename):
        raise Unprocessable(f"the model file's name {filename!r} holds a control character: rename the file")
    return filename


HOLDOUT_EXAMPLE = '{"split": "testing", "rows": 1200}'


def _holdout(text: str) -> HoldoutWindow | None:
    """The form's `holdout` (JSON text) as a window; empty or "null" means not given."""
    if not text.strip() or text.strip() == "null":
        return None
    try:
        return HoldoutWindow.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'holdout'}: {e['msg']}" for e in exc.errors())
        raise Unprocessable(f"holdout must be a JSON object like {HOLDOUT_EXAMPLE} (split testing or production, "
                            f"service for production, start/end as ISO 8601 times): {problems}") from exc


@router.post("", response_model=Algorithm, status_code=201)
async def upload_algorithm(
    settings: SettingsDep,
    name: Annotated[str, Form()],
    dataset: Annotated[str, Form()],
    file: Annotated[UploadFile, File(description="a fitted model with .predict: a .skops file, or a joblib/pickle "
                                                 "file where MODEL_ALLOW_PICKLE allows it; loaded and made to "
                                                 "predict in a separate process before it is stored")],
    config_file: Annotated[UploadFile | None, File(description="optional configuration")] = None,
    framework: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    metrics: Annotated[str, Form(description="JSON object")] = "{}",
    stage: Annotated[Stage, Form()] = Stage.staging,
    holdout: Annotated[str, Form(description="JSON object: the rows `metrics` were scored on, e.g. "
                                             + HOLDOUT_EXAMPLE)] = "",
) -> dict:
    _text_fields(name=name, dataset=dataset, framework=framework, description=description, holdout=holdout,
                 config_file=config_file.filename or "" if config_file else "")
    try:
        check_resource_name(name)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    window = _holdout(holdout)
    scores = _metrics(metrics)
    filename = _model_filename(file)
    limit = settings.max_upload_bytes
    model = await _read_limited(file, limit, "the model file")
    config = await _read_limited(config_file, limit, "the config file") if config_file else None
    # MongoDB reads and GridFS writes block, and the check waits for its process: off the event loop, so
    # other requests are served meanwhile.
    schema = await run_in_threadpool(algorithms_store.dataset_schema, dataset)
    stored_as = await run_in_threadpool(algorithms_store.checked_model, schema, model, filename)
    doc = await run_in_threadpool(
        algorithms_store.create_algorithm,
        name=name, dataset=dataset, model=model, filename=stored_as,
        config=config, config_filename=config_file.filename if config_file else None,
        framework=framework, description=description, metrics=scores, stage=stage,
        holdout=window,
    )
    return algorithms_store.algorithm_to_api(doc)


@router.get("", response_model=list[Algorithm])
def list_algorithms(
    name: str | None = None, dataset: str | None = None, stage: Stage | None = None
) -> list[dict]:
    return [algorithms_store.algorithm_to_api(d) for d in algorithms_store.list_algorithms(name, dataset, stage)]


@router.get("/{name}", response_model=list[Algorithm])
def list_versions(name: str) -> list[dict]:
    return [algorithms_store.algorithm_to_api(d) for d in algorithms_store.algorithm_versions(name)]


@router.get("/{name}/{version}", response_model=Algorithm)
def get_algorithm(name: str, version: str) -> dict:
    return algorithms_store.algorithm_to_api(algorithms_store.get_algorithm(name, version))


@router.get("/{name}/{version}/file", response_class=Response)
def download_model(name: str, version: str) -> Response:
    doc = algorithms_store.get_algorithm(name, version)
    content = algorithms_store.read_verified(doc.model_file, "model file")
    return Response(
        content, media_type="application/octet-stream",
        headers={
            "X-Checksum-Sha256": doc.model_file.sha256,
            "X-Algorithm-Version": str(doc.version),
            "Content-Disposition": f'attachment; filename="{doc.model_file.filename}"',
        },
    )


@router.get("/{name}/{version}/config", response_class=Response)
def download_config(name: str, version: str) -> Response:
    doc = algorithms_store.get_algorithm(name, version)
    if doc.config_file is None:
        raise NotFound(f"algorithm {name!r} version {doc.version} has no config file")
    content = algorithms_store.read_verified(doc.config_file, "config file")
    return Response(
        content, media_type="application/octet-stream",
        headers={
            "X-Checksum-Sha256": doc.config_file.sha256,
            "Content-Disposition": f'attachment; filename="{doc.config_file.filename}"',
        },
    )


@router.patch("/{name}/{version}/stage", response_model=Algorithm)
def change_stage(name: str, version: str, body: StageUpdate) -> dict:
    return algorithms_store.algorithm_to_api(algorithms_store.change_stage(name, version, body))


@router.patch("/{name}/{version}", response_model=Algorithm)
def patch_algorithm(name: str, version: str, body: AlgorithmPatch) -> dict:
    return algorithms_store.algorithm_to_api(algorithms_store.update_algorithm(name, version, body))


@router.delete("/{name}/{version}", status_code=204)
def delete_algorithm(name: str, version: str) -> Response:
    algorithms_store.delete_algorithm(name, version)
    return Response(status_code=204)
