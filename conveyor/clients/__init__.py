"""HTTP clients for Conveyor's services; every component and the CLI use these.

A process builds one client per peer in its composition root and hands it down
(`PeerClients` for a service's queue_manager and ml_data_api clients); it closes them on shutdown.
"""

from conveyor.clients.base import APIError, APIUnavailable
from conveyor.clients.ml_data import MLDataClient
from conveyor.clients.monitoring import MonitoringClient
from conveyor.clients.peers import PeerClients
from conveyor.clients.queue_manager import QueueManagerClient
from conveyor.clients.retraining import RetrainingClient

__all__ = ["APIError", "APIUnavailable", "MLDataClient", "MonitoringClient", "PeerClients", "QueueManagerClient",
           "RetrainingClient"]
