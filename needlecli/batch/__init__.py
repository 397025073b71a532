"""Batch planning over a clinic's CSV list."""
