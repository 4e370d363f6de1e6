"""Pages under the Content-Security-Policy in a real browser: every test here (like every browser test) fails
on a violation (tests/browser.py). These cover what the site-wide pieces need: the Swagger UI page, the
language switch (static JS instead of an onchange attribute) and htmx without its injected <style>."""

import pytest

from tests.browser import wait_until

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_under_the_site_policy(page, login_as, annotator):
    login_as(annotator)
    response = page.goto("/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Preference Studio API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock")  # the schema loaded and the operations are listed


def test_language_switch_submits_without_inline_script(page, login_as, annotator):
    login_as(annotator)
    page.goto("/")
    assert page.get_attribute("html", "lang") == "en"
    with page.expect_navigation():
        page.select_option("select[name=language]", "pl")
    assert page.get_attribute("html", "lang") == "pl"


def test_htmx_injects_no_style_element(page, login_as, annotator):
    login_as(annotator)
    page.goto("/prompts/new/")
    wait_until(page, "window.htmx !== undefined")
    assert page.evaluate("document.querySelectorAll('style').length") == 0
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
