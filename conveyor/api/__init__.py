"""FastAPI building blocks every Conveyor HTTP service shares."""
