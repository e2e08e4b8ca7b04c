"""Pydantic models shared by the services and their clients (one definition each)."""
