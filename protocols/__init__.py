"""Bundled treatment and screening protocols (TOML data, read with importlib.resources)."""
