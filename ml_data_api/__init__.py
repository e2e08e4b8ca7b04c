"""ml_data_api: typed tables of training, testing and production rows per dataset."""
