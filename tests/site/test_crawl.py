"""No dead links: for each role, follow every same-site link from the home page; nothing answers 404 or 500.

A bounded breadth-first crawl with the Django test client over seeded work made through the services
(prompts, rating and ranking annotations, dialogs, QA reviews, feedback, a built export). It follows `href` (and the `src` of scripts
and images, so a missing static file counts too), and the `Location` of redirects. Static files are served
through the finders, as in development, so `/favicon.ico` → `/static/favicon.ico` is checked end to end.

Skipped: log-out (it would end the crawl), other hosts, `javascript:`/`mailto:`/`data:` links. POST-only
views are never linked with an href; if one were, its GET answers 405, which is not what this test hunts.
Bounds: at most SAME_SHAPE URLs per path shape (numbers replaced, query ignored: one prompt page stands for
all of them, the Django admin's 130 topic pages for three), at most MAX_PAGES pages per role.
"""

import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from django.urls import reverse

from exports import services as export_services
from qa.models import Feedback
from tests.factories import make_dialog, make_export_corpus, make_prompt, make_rating_task

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "annotator", "qa_lead", "admin")
MAX_PAGES = 800
SAME_SHAPE = 3
SKIP_PATHS = ("/accounts/logout/",)
SKIP_SCHEMES = ("javascript:", "mailto:", "data:", "tel:")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and (name == "href" or (name == "src" and tag in ("script", "img"))):
                self.links.append(value)


def _links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


def _shape(path: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/<n>", path)


def crawl(client, start: str = "/") -> tuple[dict[str, int], list[str]]:
    """{url: status} of every page reached, and the problems (404, 5xx, exceptions) with the page linking them."""
    seen: dict[str, int] = {}
    shapes: dict[str, int] = {}
    problems: list[str] = []
    queue: deque[tuple[str, str]] = deque([(start, "(start)")])
    queued = {start}
    while queue and len(seen) < MAX_PAGES:
        url, referrer = queue.popleft()
        try:
            response = client.get(url)
        except Exception as exc:  # the test client re-raises a view's exception: that is a 500
            problems.append(f"{url} (linked from {referrer}): raised {exc!r}")
            seen[url] = 500
            continue
        seen[url] = response.status_code
        if response.status_code == 404 or response.status_code >= 500:
            problems.append(f"{url} (linked from {referrer}): {response.status_code}")
            continue
        targets = []
        if response.status_code in (301, 302, 303, 307, 308):
            targets = [response["Location"]]
        elif "text/html" in response.get("Content-Type", "") and not response.streaming:
            targets = _links(response.content.decode("utf-8", "replace"))
        for raw in targets:
            if raw.startswith(SKIP_SCHEMES):
                continue
            absolute, _fragment = urldefrag(urljoin("http://testserver" + url, raw))
            parts = urlsplit(absolute)
            if parts.netloc != "testserver" or not parts.path or parts.path.startswith(SKIP_PATHS):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            shape = _shape(parts.path)
            if target in queued or shapes.get(shape, 0) >= SAME_SHAPE:
                continue
            shapes[shape] = shapes.get(shape, 0) + 1
            queued.add(target)
            queue.append((target, url))
    return seen, problems


@pytest.fixture
def site(seeded, annotator, annotator2, qa_lead, admin_user, settings, tmp_path):
    """Some of everything, so that the pages that list work have links to follow."""
    settings.EXPORT_ROOT = tmp_path / "exports"
    settings.WHITENOISE_USE_FINDERS = True  # serve /static/ from the source tree, as in development
    # first: the corpus claims whatever the queue offers
    make_export_corpus([annotator, annotator2], reviewer=qa_lead, n_ranking=2, n_rating_pairs=1, n_dialogs=1)
    make_prompt(text="Pytanie z przeszukiwania strony", author=annotator)
    make_rating_task(author=annotator)
    make_dialog(annotator, turns=4)
    export = export_services.export_create(user=admin_user, name="crawl", params={"eval_ratio": 0.3}, enqueue=False)
    export_services.export_build(export_id=export.pk)
    Feedback.objects.create(to_user=annotator, from_user=qa_lead, text="Dobra robota")


@pytest.mark.parametrize("role", ROLES)
def test_no_link_leads_to_a_missing_page_or_an_error(role, site, users, client):
    if users[role] is not None:
        client.force_login(users[role])
    seen, problems = crawl(client)
    assert len(seen) < MAX_PAGES, "the crawl hit its bound: raise MAX_PAGES or tighten SAME_SHAPE"
    assert not problems, "\n".join(problems)
    # the crawl really went places: the favicon, and for signed-in people the pages of their role
    assert "/static/favicon.ico" in seen and seen["/static/favicon.ico"] == 200
    expected = {
        "anonymous": [reverse("account_login")],
        "annotator": [reverse("prompts:guidelines"), reverse("prompts:prompt_create"), reverse("dialogs:dialog_list")],
        "qa_lead": [reverse("qa:dashboard"), reverse("qa:review_queue", args=["custom"])],
        "admin": [reverse("exports:list"), reverse("generation:campaigns"), "/admin/"],
    }[role]
    reached = {urlsplit(url).path for url in seen}
    assert set(expected) <= reached, sorted(reached)


def test_favicon_ico_answers_for_everyone(client, settings):
    settings.WHITENOISE_USE_FINDERS = True
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    icon = client.get(response["Location"])
    assert icon.status_code == 200 and b"".join(icon.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an .ico


def test_django_admin_pages_for_a_superuser(site, admin_user, client):
    """The admin role's "Admin" link opens Django's admin, whose pages only a superuser sees in full: every
    changelist and (a few) change pages of every model must render (list_display, filters, search fields)."""
    admin_user.is_superuser = True
    admin_user.save(update_fields=["is_superuser"])
    client.force_login(admin_user)
    seen, problems = crawl(client, start="/admin/")
    assert len(seen) < MAX_PAGES, "the crawl hit its bound: raise MAX_PAGES or tighten SAME_SHAPE"
    assert not problems, "\n".join(problems)
    reached = {urlsplit(url).path for url in seen}
    assert {"/admin/prompts/category/", "/admin/prompts/topic/", "/admin/prompts/redteamtemplate/"} <= reached
