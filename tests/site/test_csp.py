"""Content-Security-Policy: the header on every page (every route × every role, walked as the access matrix
walks them: tests/site/support.py), and templates and scripts that need no exception to it. The browser tests (tests/browser.py) fail on any
violation a real page reports."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.site.support import ROLES, route_kwargs, site_routes

pytestmark = pytest.mark.django_db

SITE_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _directives(header: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in header.split(";") if part.strip()}


def assert_site_policy(response, label: str) -> None:
    header = response.get("Content-Security-Policy")
    assert header, f"{label}: no Content-Security-Policy header"
    assert _directives(header) == SITE_POLICY, f"{label}: {header}"


@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_the_matrix_has_the_site_policy(role, objects, users, client):
    from django.core.cache import cache

    if users[role] is not None:
        client.force_login(users[role])
    checked = 0
    for path, name in site_routes():
        cache.clear()
        url = reverse(name, kwargs=route_kwargs(name, path, objects))
        response = client.get(url)
        assert_site_policy(response, f"{role} GET {url} ({response.status_code})")
        checked += 1
    assert checked > 50


def test_login_admin_and_error_pages_have_the_site_policy(client, annotator):
    for url in ("/accounts/login/", "/admin/login/", "/no-such-page/"):
        assert_site_policy(client.get(url), url)
    client.force_login(annotator)
    assert_site_policy(client.get("/api/docs/?script="), "Swagger UI start-up script")


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> block"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "on* event-handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]
SCRIPT_EVAL = [
    (re.compile(r"\beval\s*\("), "eval("),
    (re.compile(r"new\s+Function\s*\("), "new Function("),
    (re.compile(r"setAttribute\(\s*[\"']style"), "a style attribute set from script"),
    (re.compile(r"set(?:Timeout|Interval)\(\s*[\"'`]"), "a string given to setTimeout/setInterval"),
]


def test_templates_and_scripts_need_no_exception_to_the_policy():
    base = Path(settings.BASE_DIR)
    problems = []
    for path in sorted((base / "templates").rglob("*.html")):
        text = re.sub(r"{#.*?#}", "", path.read_text(), flags=re.S)  # template comments are not sent
        problems += [f"{path.relative_to(base)}: {what}" for pattern, what in INLINE if pattern.search(text)]
    for path in sorted((base / "static" / "js").rglob("*.js")):
        text = path.read_text()
        problems += [f"{path.relative_to(base)}: {what}" for pattern, what in SCRIPT_EVAL if pattern.search(text)]
    assert not problems, "\n".join(problems)
