"""Model training and evaluation, shared by `conveyor train` and the retraining service."""

from conveyor.training.artifacts import dump_model, load_config, load_model
from conveyor.training.frame import frame_from_rows
from conveyor.training.metrics import evaluate
from conveyor.training.pycaret_train import TrainedModel, available_models, train_model, valid_model_ids

__all__ = ["TrainedModel", "available_models", "dump_model", "evaluate", "frame_from_rows", "load_config", "load_model",
           "train_model", "valid_model_ids"]
