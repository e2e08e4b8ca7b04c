"""worker: consumes a service's queue and predicts in micro-batches with its assigned model."""
