"""monitoring_api: data quality, drift and model performance with Evidently."""
