"""Kamstrup Meter Protocol (KMP): the reader's side of a polled Kamstrup meter."""
