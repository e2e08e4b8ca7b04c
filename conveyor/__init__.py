"""Conveyor: serve machine-learning models from message queues and keep them healthy."""

__version__ = "0.1.0"
