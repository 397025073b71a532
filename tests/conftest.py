from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's own clinic config (tests that need one set their own)."""
    if "NEEDLE_CONFIG" not in os.environ or not os.environ["NEEDLE_CONFIG"].startswith(
        str(tmp_path_factory.getbasetemp())
    ):
        monkeypatch.setenv("NEEDLE_CONFIG", str(tmp_path_factory.getbasetemp() / "no-config.toml"))
