"""Secure by default: no published secret outside DEBUG, and the documented production environment passes
`manage.py check --deploy`. Each check runs Django in a subprocess with a clean environment (settings are
read once per process)."""

import secrets
import subprocess
import sys
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Only what a bare process needs: no SECRET_KEY, DATABASE_URL, REDIS_URL… from the test run."""
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "STUDIO_VAR_DIR": str(tmp_path / "var"),
        **extra,
    }


def _setup(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def documented_environment() -> dict[str, str]:
    """The KEY=VALUE lines of .env.example, with a fresh SECRET_KEY where the example leaves it to fill in."""
    env = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    assert env.get("SECRET_KEY", "") == "", ".env.example must not carry a usable secret"
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    return env


def test_settings_refuse_to_load_without_secret_key_unless_debug(tmp_path):
    for debug in ("false", None):  # DEBUG=false, and DEBUG unset (off by default)
        env = _clean_env(tmp_path, **({"DEBUG": debug} if debug else {}))
        done = _setup(env)
        assert done.returncode != 0, f"DEBUG={debug}: settings loaded without a SECRET_KEY"
        assert "ImproperlyConfigured" in done.stderr and "SECRET_KEY" in done.stderr, done.stderr[-2000:]
        assert "DEBUG=true" in done.stderr  # the message names the fix
    done = _setup(_clean_env(tmp_path, DEBUG="true"))
    assert done.returncode == 0, done.stderr[-2000:]
    done = _setup(_clean_env(tmp_path, DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50)))
    assert done.returncode == 0, done.stderr[-2000:]


def test_check_deploy_passes_with_the_documented_environment(tmp_path):
    env = {**_clean_env(tmp_path), **documented_environment()}
    assert env["DEBUG"] == "false"
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "System check identified no issues" in output, output[-4000:]


def test_example_environment_is_marked_as_an_example_and_compose_does_not_load_it():
    example = (ROOT / ".env.example").read_text()
    assert "EXAMPLE ONLY" in example.splitlines()[0]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        assert ".env.example" not in (service.get("env_file") or []), name
    assert compose["x-django"]["env_file"] == [".env"]
    published = [port for service in compose["services"].values() for port in service.get("ports", [])]
    assert published and all(port.startswith("${STUDIO_PUBLISH_ADDRESS:-127.0.0.1}:") for port in published)
