"""One message of a batch on its way through the worker: what it became, who predicted it, what is left to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from conveyor.schemas.services import ModelRole
from worker.messages import Record
from worker.model_store import LoadedModel


@dataclass
class Item:
    message: AbstractIncomingMessage
    record: Record | None = None
    error: str | None = None
    record_id: str = ""  # the record's id, or the best id of a message that did not parse
    job_id: str = ""  # job_id_for(service, record_id): the same on every delivery, on the job and on its row
    prediction: Any = None
    skip: bool = False  # done by an earlier delivery: its row or its job was stored already (a duplicate)
    stored_before: bool = False  # its production row was stored by an earlier delivery, not by this one
    model: LoadedModel | None = None  # the model whose prediction is served
    role: ModelRole = ModelRole.champion
    shadow: Any = None  # shadow mode: the challenger's prediction, stored beside the served one
    shadow_model: LoadedModel | None = None

    @property
    def parsed(self) -> Record:
        """The record of an item that parsed: only those are predicted and stored."""
        if self.record is None:
            raise RuntimeError(f"message {self.message.message_id} did not parse: {self.error}")
        return self.record
