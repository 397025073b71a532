"""Exporters: pure functions from core objects to file bytes, one module per format.

Each module has ``export(plan, options) -> bytes``; `needlecli.export` lists them.
"""
