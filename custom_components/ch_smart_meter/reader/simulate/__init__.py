"""Simulated meters for every standard (tests, the command line and the demo)."""
