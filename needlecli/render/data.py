"""Plans as data files: JSON (for scripts) and TOML (a saved plan for `plan --from`)."""

from __future__ import annotations

import json

from needlecli.model import ExportOptions, Plan
from needlecli.plans import plan_document, to_json_ready, to_toml_ready


def export_json(plan: Plan, options: ExportOptions) -> bytes:
    text = json.dumps(to_json_ready(plan_document(plan)), indent=2, ensure_ascii=False) + "\n"
    return text.encode("utf-8")


def export_toml(plan: Plan, options: ExportOptions) -> bytes:
    import tomli_w

    return tomli_w.dumps(to_toml_ready(plan_document(plan))).encode("utf-8")
