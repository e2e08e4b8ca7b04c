from fastapi import APIRouter

from conveyor.schemas.data import LabelsPost, LabelsResult
from ml_data_api import labels
from ml_data_api.deps import CatalogDep, DbDep, SchemaDep

router = APIRouter(prefix="/ml_data_api/datasets", tags=["labels"])


@router.post("/{name}/labels", response_model=LabelsResult)
def post_labels(body: LabelsPost, schema: SchemaDep, db: DbDep, catalog: CatalogDep) -> dict:
    return labels.apply(
        db, schema, [label.model_dump() for label in body.labels], body.append_to_training,
        catalog.timescale(schema.name),
    )
