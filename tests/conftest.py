from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Test modules build some of their data when they are imported (collected), before any fixture runs:
# from the start, needle reads no user config and writes into no user data folder or home.
_COLLECTING = Path(tempfile.mkdtemp(prefix="needle-tests-"))
(_COLLECTING / "home").mkdir()
(_COLLECTING / "uid_key").write_text("test-uid-key-0123456789abcdef\n")
(_COLLECTING / "uid_key").chmod(0o600)
os.environ["NEEDLE_CONFIG"] = os.devnull
os.environ["NEEDLE_DATA_DIR"] = str(_COLLECTING)
os.environ["HOME"] = str(_COLLECTING / "home")

settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session", autouse=True)
def _no_user_files(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Before any fixture of any scope (module fixtures build files before the per-test fixtures run):
    no test reads the user's config or writes into the user's data folder or register."""
    data = tmp_path_factory.getbasetemp() / "needle-data"
    data.mkdir(exist_ok=True)
    if not (data / "uid_key").exists():
        (data / "uid_key").write_text("test-uid-key-0123456789abcdef\n")
        (data / "uid_key").chmod(0o600)
    os.environ["NEEDLE_CONFIG"] = os.devnull
    os.environ["NEEDLE_DATA_DIR"] = str(data)
    # A process started with an environment of its own (no NEEDLE_DATA_DIR) finds a home of the tests'.
    home = tmp_path_factory.getbasetemp() / "home"
    home.mkdir(exist_ok=True)
    os.environ["HOME"] = str(home)
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        os.environ.pop(name, None)
    os.environ["NEEDLE_CACHE_DIR"] = str(tmp_path_factory.getbasetemp() / "needle-cache")


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's own clinic config (tests that need one set their own)."""
    if os.environ.get("NEEDLE_CONFIG") != os.devnull and not os.environ.get("NEEDLE_CONFIG", "").startswith(
        str(tmp_path_factory.getbasetemp())
    ):
        monkeypatch.setenv("NEEDLE_CONFIG", os.devnull)
    # Calendar ids are keyed by a key in the user's data folder: tests use one fixed key of their own,
    # so golden files are the same on every machine and no test writes into the real home.
    data = tmp_path_factory.getbasetemp() / "needle-data"
    if not (data / "uid_key").exists():
        data.mkdir(exist_ok=True)
        (data / "uid_key").write_text("test-uid-key-0123456789abcdef\n")
        (data / "uid_key").chmod(0o600)  # as needle makes it: a key others can read is warned about
    monkeypatch.setenv("NEEDLE_DATA_DIR", str(data))
    # `needle --help` keeps click's rendering in a cache folder: the tests' own, never the user's.
    monkeypatch.setenv("NEEDLE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "needle-cache"))


@pytest.fixture
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clinic config file of this test's own (not written yet): NEEDLE_CONFIG points at it."""
    path = tmp_path / "config.toml"
    monkeypatch.setenv("NEEDLE_CONFIG", str(path))
    return path


@pytest.fixture
def clinic_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A written clinic config with a name and phone (exports show them)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[clinic]\nname = "Harbour Skin Clinic"\nphone = "+44 20 7946 0000"\n')
    monkeypatch.setenv("NEEDLE_CONFIG", str(cfg))
