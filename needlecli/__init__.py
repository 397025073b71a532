"""needle: microneedling screening, series calendars and aftercare for clinics."""

from __future__ import annotations

__version__ = "0.1.0"
