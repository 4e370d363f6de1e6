"""Every URL × every role (and anonymous), for the whole site.

The table below must name every route the site has (a new view without an entry fails
`test_every_url_is_in_the_matrix`). For each role a GET must give:
  * anonymous: a redirect to the login page (HTML) or 401/403 (API),
  * a role without access: 403,
  * a role with access: neither 401/403 nor a login redirect nor a server error (405 for POST-only
    views and 404 for objects that are not theirs are listed explicitly).
Per-app files (test_qa_access.py, test_generation_views.py, test_exports_views.py, …) test methods,
htmx and POST behaviour in depth; this file makes sure nothing was forgotten.
"""

import pytest
from django.urls import reverse

from tests.site.support import ROLES, route_kwargs, site_routes

pytestmark = pytest.mark.django_db

A, Q, D = {"annotator", "qa_lead", "admin"}, {"qa_lead", "admin"}, {"admin"}
EVERYONE = {"anonymous", "annotator", "qa_lead", "admin"}

# name: (allowed roles, {role: status overriding the default for that role})
MATRIX = {
    "api-schema": (A, {}),
    "api-docs": (A, {}),
    "home:home": (A, {}),
    "prompts:guidelines": (A, {}),
    "prompts:prompt_create": (A, {}),
    "prompts:my_prompts": (A, {}),
    "prompts:prompt_detail": (A, {}),
    "prompts:prompt_edit": (A, {"qa_lead": 404, "admin": 404}),  # only the author edits
    "prompts:prompt_import": (D, {}),
    "core:invitations": (D, {}),
    "core:invitation_accept": (EVERYONE, {r: 403 for r in EVERYONE}),  # a wrong token is refused to all
    "core:favicon": (EVERYONE, {r: 302 for r in EVERYONE}),  # public: a redirect to the static icon
    "home:feedback_read": (A, {r: 405 for r in A}),
    "annotation:rating_next": (A, {}),
    "annotation:rating_item": (A, {}),
    "annotation:ranking_next": (A, {}),
    "annotation:ranking_item": (A, {}),
    "annotation:claim_release": (A, {r: 405 for r in A}),
    "annotation:campaign_assemble": (D, {r: 405 for r in D}),
    "annotation:tasks_assemble": (D, {r: 405 for r in D}),
    "generation:generations": (D, {}),  # the generated-texts browser (also covered by APP_ROLES)
    "dialogs:dialog_list": (A, {}),
    "dialogs:dialog_start": (A, {r: 405 for r in A}),
    "dialogs:dialog_detail": (A, {}),
    "dialogs:dialog_turn_create": (A, {r: 405 for r in A}),
    "dialogs:dialog_turn_stream": (A, {"qa_lead": 404, "admin": 404}),
    "dialogs:dialog_turn_decide": (A, {r: 405 for r in A}),
    "dialogs:dialog_candidate": (A, {}),
    "dialogs:dialog_candidate_retry": (A, {r: 405 for r in A}),
    "dialogs:dialog_finish": (A, {r: 405 for r in A}),
    "dialogs:dialog_abandon": (A, {r: 405 for r in A}),
    "prompts_api:prompts": (A, {}),
    "prompts_api:prompts-import": (D, {r: 405 for r in D}),
    "annotation_api:task-ping": (A, {}),
    "annotation_api:task-next": (A, {}),
    "annotation_api:task-rating": (A, {}),
    "annotation_api:task-ranking": (A, {}),
    "annotation_api:task-release": (A, {r: 405 for r in A}),
    "dialogs_api:dialogs": (A, {}),
    "dialogs_api:dialog": (A, {}),
    "dialogs_api:dialog-turns": (A, {}),
    "dialogs_api:dialog-retry": (A, {}),
    "dialogs_api:dialog-decide": (A, {}),
    "dialogs_api:dialog-finish": (A, {}),
    "generation_api:endpoints": (D, {}),
    "generation_api:endpoint-check": (D, {}),
    "generation_api:campaigns": (D, {}),
    "generation_api:campaign-status": (D, {}),
    "generation_api:campaign-start": (D, {}),
    "generation_api:campaign-pause": (D, {}),
    "generation_api:campaign-resume": (D, {}),
    "generation_api:campaign-cancel": (D, {}),
    "generation_api:responses-import": (D, {}),
    "annotation_api:tasks-assemble": (D, {r: 405 for r in D}),
    "exports_api:exports": (D, {}),
    "exports_api:export-status": (D, {}),
    "exports_api:export-files": (D, {}),
    "exports_api:export-download": (D, {}),
    "qa_api:qa-agreement": (Q, {}),
    "qa_api:qa-coverage": (Q, {}),
    "qa_api:qa-reviews": (Q, {}),
    "qa_api:qa-review-decide": (Q, {}),
    "qa_api:qa-gold": (Q, {}),
    "qa_api:qa-feedback": (Q, {}),
}
# Every route of the generation, exports and QA apps is for admins / QA leads only.
APP_ROLES = {"generation": D, "exports": D, "qa": Q}


def expected_roles(name):
    if name in MATRIX:
        return MATRIX[name]
    app = name.split(":")[0] if ":" in name else None
    if app in APP_ROLES:
        return APP_ROLES[app], {}
    return None


def test_every_url_is_in_the_matrix():
    missing = [f"{path} ({name or 'unnamed'})" for path, name in site_routes() if expected_roles(name) is None]
    assert not missing, f"routes without an access expectation: {missing}"


@pytest.mark.parametrize("role", ROLES)
def test_role_url_matrix(role, objects, users, client):
    from django.core.cache import cache

    failures = []
    if users[role] is not None:
        client.force_login(users[role])
    for path, name in site_routes():
        spec = expected_roles(name)
        if spec is None:
            continue
        allowed, overrides = spec
        cache.clear()
        url = reverse(name, kwargs=route_kwargs(name, path, objects))
        response = client.get(url)
        status = response.status_code
        is_api = url.startswith("/api/")
        if role in overrides:
            ok = status == overrides[role]
            want = str(overrides[role])
        elif role == "anonymous":
            ok = status in (401, 403) if is_api else (status == 302 and "/accounts/login/" in response["Location"])
            want = "401/403" if is_api else "302 to login"
        elif role not in allowed:
            ok, want = status == 403, "403"
        else:
            redirected_to_login = status == 302 and "/accounts/login/" in response.get("Location", "")
            ok = status not in (401, 403) and status < 500 and not redirected_to_login
            want = "access"
        if not ok:
            failures.append(f"{role} GET {url} ({name}): {status}, want {want}")
    assert not failures, "\n".join(failures)


def test_annotators_see_only_their_own_work(objects, annotator2, client):
    """Another annotator gets 404 on everything bound to the first annotator's work."""
    client.force_login(annotator2)
    owned = [
        reverse("prompts:prompt_edit", args=[objects["prompt"]]),
        reverse("dialogs:dialog_detail", args=[objects["dialog"]]),
        reverse("dialogs:dialog_candidate", args=[objects["dialog"], 1, "A"]),
        reverse("dialogs_api:dialog", args=[objects["dialog"]]),
    ]
    for url in owned:
        assert client.get(url).status_code == 404, url
    listed = client.get(reverse("dialogs_api:dialogs")).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert all(row["id"] != objects["dialog"] for row in rows)
