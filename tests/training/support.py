"""Helpers of the training tests: run a train_* command with every warning and log line captured."""

from __future__ import annotations

import logging
import math
import os
import warnings

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TRL_EXPERIMENTAL_SILENCE": "1"}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_command(name: str, *argv: str) -> tuple[list[str], str]:
    """call_command with every warning and log message captured (the prefix warning must never appear)."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    if not settings.configured:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
    handler = _Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from io import StringIO

            out = StringIO()
            call_command(name, *argv, stdout=out)
    finally:
        root.removeHandler(handler)
    return handler.messages + [str(w.message) for w in caught], out.getvalue()


def finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
