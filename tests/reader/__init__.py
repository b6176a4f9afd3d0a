"""Tests for ch_smart_meter."""
