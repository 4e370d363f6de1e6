"""The one loader of the PLLuM-Align reference file (criteria, categories, pre-prompts, hyperparameters…).

Read once per process and path, without importing Django (the training commands and exports use it too).
`$STUDIO_REFERENCE_FILE` points at another copy; `config.settings.REFERENCE_FILE` reads the same variable.
The returned dict is shared: treat it as read-only.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

REFERENCE_ENV = "STUDIO_REFERENCE_FILE"
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "pllum_align.json"


def reference_path() -> Path:
    return Path(os.environ.get(REFERENCE_ENV) or DEFAULT_PATH)


@cache
def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def load_reference(path: Path | None = None) -> dict[str, Any]:
    """The reference facts from `path`, or from `$STUDIO_REFERENCE_FILE` / the bundled copy."""
    return _load(Path(path) if path else reference_path())
