"""HTTP clients for Conveyor's services; every component and the CLI use these."""

from conveyor.clients.base import APIError, APIUnavailable
from conveyor.clients.ml_data import MLDataClient
from conveyor.clients.monitoring import MonitoringClient
from conveyor.clients.queue_manager import QueueManagerClient
from conveyor.clients.retraining import RetrainingClient

__all__ = ["APIError", "APIUnavailable", "MLDataClient", "MonitoringClient", "QueueManagerClient", "RetrainingClient"]
