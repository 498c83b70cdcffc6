"""Fixtures shared by test modules (opt in with ``pytestmark = pytest.mark.usefixtures(...)``)."""
from __future__ import annotations

import pytest

from pt.learn import store
from pt.telemetry import lake as lakes


@pytest.fixture
def private_homes(tmp_path, monkeypatch):
    """Lake, key, learned priors, state and config under ``tmp_path``, never
    the user's; no lake, key, learned-priors or fleet host from the environment."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    for name in ("PT_LAKE", "PT_TELEMETRY_KEY", store.LEARNED_ENV, lakes.HOST_ENV):
        monkeypatch.delenv(name, raising=False)
