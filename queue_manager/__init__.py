"""queue_manager: the registry (datasets, algorithms, services) and the jobs log."""
