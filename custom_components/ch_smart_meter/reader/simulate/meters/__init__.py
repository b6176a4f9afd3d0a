"""Simulated meters, one module per standard, each exporting ``create_source(options)``."""
