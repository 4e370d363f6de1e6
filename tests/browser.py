"""Shared browser fixtures: Playwright (sync API) driving Debian's chromium against the live server.

tests/conftest.py registers this module as a plugin, so every test module has the fixtures (no import needed):

    import pytest

    pytestmark = pytest.mark.browser

    def test_something(page, login_as, annotator, no_js_dialogs):
        login_as(annotator)          # through the real allauth form at /accounts/login/
        page.goto("/")
        no_js_dialogs()              # nothing called alert/confirm/prompt

`page` requests `live_server`, so the test runs with a transactional database (data created in the test is
visible to the server thread). Every JavaScript dialog (alert/confirm/prompt) the page opens is recorded
in `page.js_dialogs` and dismissed; `window.alert`, `confirm` and `prompt` are also wrapped before any page
script runs, so hostile text that calls them leaves a trace in `window.__studioAlerts` even when the
dialog event is not delivered. `assert_no_js_dialogs(page)` checks both.

Every test also asserts, when it ends, that no page broke the Content-Security-Policy (config/settings.py): a
`securitypolicyviolation` listener installed before any page script, and chromium's own console report
("Refused to ... Content Security Policy"), fill `page.csp_violations`; `assert_no_csp_violations(page)` checks
it at any point, and the `page` fixture checks it at the end of every test. For the same reason do not use
`page.wait_for_function`: Playwright runs its predicate through eval() inside the page, which the policy
blocks; `wait_until(page, "js expression")` polls through `page.evaluate` instead.
"""

import os
import time

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.conftest import PASSWORD

CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# Generous: the machine is shared, and a loaded 2-core box can take seconds to serve the first page.
DEFAULT_TIMEOUT_MS = int(os.environ.get("STUDIO_BROWSER_TIMEOUT_MS", "30000"))

# Runs before any script of every page and frame: records calls instead of blocking on a modal.
_TRAP_SCRIPT = """
(() => {
  window.__studioAlerts = [];
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    const original = window[name];
    window[name] = function (...args) {
      window.__studioAlerts.push({name, args: args.map(String)});
      return name === "confirm" ? false : null;
    };
    window[name].__original = original;
  }
  // Content-Security-Policy violations: reported to the test through the console (survives navigations).
  document.addEventListener("securitypolicyviolation", (event) => {
    console.error("[csp-violation] " + JSON.stringify({
      directive: event.effectiveDirective, blocked: event.blockedURI, source: event.sourceFile,
      line: event.lineNumber, sample: event.sample, page: document.location.href,
    }));
  });
})();
"""
_CSP_CONSOLE_MARKERS = ("[csp-violation]", "Content Security Policy", "Content-Security-Policy")


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread; Django's ORM (used by the test body and
    # by fixtures) refuses to run in a thread with a running loop unless told it is fine.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def browser_locale() -> str:
    """Override in a module to test the Polish UI (`return "pl-PL"`)."""
    return "en-US"


@pytest.fixture
def page(browser, live_server, browser_locale) -> Page:
    context = browser.new_context(
        base_url=live_server.url, locale=browser_locale, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.add_init_script(_TRAP_SCRIPT)
    new_page = context.new_page()
    new_page.js_dialogs = []
    new_page.js_errors = []
    new_page.csp_violations = []

    def on_dialog(dialog):
        new_page.js_dialogs.append((dialog.type, dialog.message))
        dialog.dismiss()

    new_page.on("dialog", on_dialog)
    new_page.on("pageerror", lambda error: new_page.js_errors.append(str(error)))

    def on_console(message):
        if any(marker in message.text for marker in _CSP_CONSOLE_MARKERS):
            new_page.csp_violations.append(message.text)

    new_page.on("console", on_console)
    try:
        yield new_page
        if not new_page.is_closed():
            new_page.wait_for_timeout(100)  # violation events are queued tasks: let the last ones arrive
        assert_no_csp_violations(new_page)
    finally:
        context.close()


@pytest.fixture
def js_dialogs(page) -> list:
    """The list of (type, message) of JavaScript dialogs the page opened; should stay empty."""
    return page.js_dialogs


def login_via_form(page: Page, user, password: str = PASSWORD, *, next_path: str = "/") -> None:
    """Log in through the real allauth form, the way a person does, and wait for the redirect."""
    page.goto(f"/accounts/login/?next={next_path}")
    page.fill("input[name=login]", user.get_username())
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    if "/accounts/login/" in page.url:
        shown = page.inner_text("main")[:500]
        raise AssertionError(f"login as {user.get_username()} failed; the page says: {shown}")


def assert_no_js_dialogs(page: Page) -> None:
    """Nothing called alert/confirm/prompt (neither a real dialog nor the wrapped functions)."""
    trapped = page.evaluate("window.__studioAlerts || []")
    assert page.js_dialogs == [], f"JavaScript dialogs opened: {page.js_dialogs}"
    assert trapped == [], f"alert/confirm/prompt called: {trapped}"


def wait_until(page: Page, expression: str, *, timeout: float = DEFAULT_TIMEOUT_MS, interval_ms: int = 100):
    """Poll a JavaScript expression until it is truthy and return its value (the CSP-safe wait_for_function:
    page.evaluate goes through the DevTools protocol, not through eval() in the page)."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout / 1000:.0f} s: {expression}")
        page.wait_for_timeout(interval_ms)


def assert_no_csp_violations(page: Page) -> None:
    """No page of this test broke the Content-Security-Policy (no inline script/style, no foreign source)."""
    assert page.csp_violations == [], "Content-Security-Policy violations:\n" + "\n".join(page.csp_violations)


@pytest.fixture
def login_as(page):
    """`login_as(user)` logs the browser in through the allauth form (password from tests.conftest)."""

    def _login(user, password: str = PASSWORD, *, next_path: str = "/") -> Page:
        login_via_form(page, user, password, next_path=next_path)
        return page

    return _login


@pytest.fixture
def no_js_dialogs(page):
    """`no_js_dialogs()` asserts that nothing opened a JavaScript dialog so far."""
    return lambda: assert_no_js_dialogs(page)
