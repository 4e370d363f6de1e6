"""Fixtures of the training tests: a tiny model built offline once per session."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from devtools.modelbuild import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny", arch="llama")
