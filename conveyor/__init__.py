"""Conveyor: serve machine-learning models from message queues and keep them healthy."""

import os
import tempfile

__version__ = "0.1.0"

# PyCaret writes `logs.log` into the working directory whenever one of its modules asks
# for its default logger (loading a saved pipeline is enough); send it to a temp file.
os.environ.setdefault("PYCARET_CUSTOM_LOGGING_PATH", os.path.join(tempfile.gettempdir(), "conveyor-pycaret.log"))
