"""An id no database can hold, in any route of the site (pages and API), is a 404 — never a 500.

`<int:…>` matched any number of digits and let such ids reach the database, where unchecked lookups fail;
every id route now uses core.converters' `<id:…>` (1 to 2**63 - 1).
"""

import re

import pytest

from core.converters import MAX_ID
from tests.site.support import site_routes

pytestmark = pytest.mark.django_db

ID_PARAM = re.compile(r"<id:(\w+)>")


def test_every_id_route_uses_the_bounded_converter():
    loose = [path for path, _name in site_routes() if re.search(r"<int:(pk|\w+_id)>", path)]
    assert not loose, f"routes taking ids with <int:>: {loose}"


@pytest.mark.parametrize("role", ["annotator", "qa_lead", "admin"])
def test_out_of_range_ids_are_404(role, users, client, seeded):
    client.force_login(users[role])
    checked = 0
    for path, _name in site_routes():
        if "<id:" not in path:
            continue
        url = "/" + ID_PARAM.sub(str(MAX_ID + 1), path)
        url = re.sub(r"<int:\w+>", "1", url)
        url = re.sub(r"<(?:str|slug):\w+>", "x", url)
        for method in (client.get, client.post):
            status = method(url).status_code
            assert status in (403, 404, 405), (role, method.__name__, url, status)
        checked += 1
    assert checked > 20


def test_api_404_is_json_and_pages_get_the_styled_page(annotator, client):
    client.force_login(annotator)
    api = client.post(f"/api/tasks/{MAX_ID + 1}/rating/")
    assert api.status_code == 404 and list(api.json()) == ["detail"]  # DRF's shape (text in the UI language)
    page = client.get(f"/rate/{MAX_ID + 1}/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
