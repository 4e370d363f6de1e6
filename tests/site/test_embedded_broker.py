"""The embedded default's Celery broker (kombu's filesystem transport) writes only under var/."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

SCRIPT = """
import django
django.setup()
from kombu import Exchange, Queue
from config.celery_app import app
with app.connection_for_write() as conn:
    # A fanout exchange (what a worker's pidbox/broadcast declares) writes its table to the control folder.
    Queue("probe", exchange=Exchange("probe", type="fanout"))(conn.default_channel).declare()
"""


def test_filesystem_broker_writes_under_var_only(tmp_path: Path) -> None:
    var, cwd = tmp_path / "var", tmp_path / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "DATABASE_URL", "REDIS_URL")}
    env.update(STUDIO_VAR_DIR=str(var), DJANGO_SETTINGS_MODULE="config.settings", PYTHONPATH=str(settings.BASE_DIR))
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert list(cwd.iterdir()) == []  # nothing in the working directory (was ./control)
    assert (var / "celery-queue" / "control" / "probe.exchange").is_file()
