"""One login throttle (django-axes) for allauth's form and the Django admin's, keyed by account AND client
address; admins unlock with `axes_reset_username` or by deleting the attempts in the admin."""

from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import reverse

from core.security import client_ip, login_username
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/?next=/admin/"
OFFICE = "192.0.2.10"  # one NAT address for several people


@pytest.fixture(autouse=True)
def _fresh_limits():
    from django.core.cache import cache

    cache.clear()  # allauth's per-IP flood guards live in the cache
    yield
    cache.clear()


def _client(ip: str = OFFICE) -> Client:
    return Client(REMOTE_ADDR=ip)


def _login(client: Client, login: str, password: str):
    return client.post(LOGIN, {"login": login, "password": password})


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_wrong_passwords_for_one_account_do_not_lock_out_another_from_the_same_address(annotator, annotator2):
    attacker = _client()
    for _ in range(20):
        response = _login(attacker, "ania", "wrong-password")
        assert response.status_code in (200, 429)
        assert not _logged_in(attacker)
    colleague = _client()  # same office, same address, another account
    response = _login(colleague, "bartek", PASSWORD)
    assert response.status_code == 302, response.content[:500]
    assert _logged_in(colleague)


def test_an_account_is_locked_after_the_limit_from_that_address_only(annotator):
    limit = settings.AXES_FAILURE_LIMIT
    client = _client()
    for _ in range(limit - 1):
        assert _login(client, "ania", "wrong-password").status_code == 200
    locked = _login(client, "ania", "wrong-password")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode() or "Zbyt wiele" in locked.content.decode()
    # from this address even the right password is refused now…
    response = _login(client, "ania", PASSWORD)
    assert response.status_code == 429 and not _logged_in(client)
    # …but the person herself, elsewhere, still gets in
    elsewhere = _client("198.51.100.7")
    assert _login(elsewhere, "ania", PASSWORD).status_code == 302 and _logged_in(elsewhere)


def test_username_and_email_of_one_account_count_together(annotator):
    client = _client()
    for i in range(settings.AXES_FAILURE_LIMIT):
        login = "ania" if i % 2 else "ANIA@example.com"
        _login(client, login, "wrong-password")
    assert _login(client, "ania", PASSWORD).status_code == 429


def test_a_success_clears_earlier_typos(annotator):
    client = _client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "ania", "typo")
    assert _login(client, "ania", PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "ania", "typo")
    assert _login(client, "ania", PASSWORD).status_code == 302


def _superuser():
    return get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)


def test_the_admin_login_is_throttled_by_the_same_rule():
    _superuser()
    client = _client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(ADMIN_LOGIN, {"username": "root", "password": "wrong"}).status_code == 200
    assert client.post(ADMIN_LOGIN, {"username": "root", "password": "wrong"}).status_code == 429
    response = client.post(ADMIN_LOGIN, {"username": "root", "password": PASSWORD})
    assert response.status_code == 429 and not _logged_in(client)
    # the allauth form shares the throttle: the same account from the same address is locked there too
    assert _login(client, "root", PASSWORD).status_code == 429


def _lock(login: str, ip: str = OFFICE) -> None:
    client = _client(ip)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, login, "wrong-password")
    assert _login(client, login, PASSWORD).status_code == 429


def test_an_admin_unlocks_with_the_command(annotator):
    _lock("ania")
    call_command("axes_reset_username", "ania", stdout=StringIO())
    client = _client()
    assert _login(client, "ania", PASSWORD).status_code == 302


def test_an_admin_unlocks_in_the_admin(annotator):
    from axes.models import AccessAttempt

    _lock("ania")
    attempts = AccessAttempt.objects.filter(username="ania")
    assert attempts.exists()
    admin = _client("203.0.113.5")
    admin.force_login(_superuser())
    changelist = reverse("admin:axes_accessattempt_changelist")
    page = admin.get(changelist + "?locked_out=yes")
    assert page.status_code == 200 and "ania" in page.content.decode()
    response = admin.post(changelist, {"action": "delete_selected", "_selected_action": list(attempts.values_list(
        "pk", flat=True)), "post": "yes"})
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="ania").exists()
    assert _login(_client(), "ania", PASSWORD).status_code == 302


def test_client_address_behind_trusted_proxies(settings):
    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.44")
    settings.STUDIO_TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.1"  # nothing trusted: the socket's peer, X-Forwarded-For ignored
    settings.STUDIO_TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "192.0.2.44"  # what our proxy saw; the left entry is the client's to forge
    settings.STUDIO_TRUSTED_PROXY_COUNT = 3
    assert client_ip(request) == "10.0.0.1"  # fewer entries than proxies: not through them, use the peer


def test_login_username_is_the_account_whatever_was_typed(annotator):
    request = RequestFactory().post(LOGIN)
    assert login_username(request, {"username": "ania@example.com"}) == "ania"
    assert login_username(request, {"username": " Ania "}) == "ania"
    assert login_username(request, {"username": "Nobody@Example.com"}) == "nobody@example.com"
    assert login_username(RequestFactory().post(LOGIN, {"login": "ania"}), None) == "ania"
