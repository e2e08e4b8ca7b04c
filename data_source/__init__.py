"""data_source: streams rows of a CSV to a service's queue; also the traffic generator."""
