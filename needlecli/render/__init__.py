"""Exporters: pure functions from core objects to text (Markdown; ICS later)."""
