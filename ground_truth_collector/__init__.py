"""ground_truth_collector: labels that arrive later, joined to predicted records by record_id."""
