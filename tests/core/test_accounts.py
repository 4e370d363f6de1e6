from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from core import roles
from core.models import Invitation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def _signup(client, username="ewa"):
    return client.post(reverse("account_signup"), {
        "username": username, "email": f"{username}@example.com",
        "password1": "Dlugie-Haslo-2026!", "password2": "Dlugie-Haslo-2026!",
    })


def test_signup_is_closed_without_invitation(client):
    response = _signup(client)
    assert not get_user_model().objects.filter(username="ewa").exists()
    assert response.status_code in (200, 403)


def test_invitation_opens_signup_with_its_role(client, admin_user, login):
    admin = login(admin_user)
    admin.post(reverse("core:invitations"), {"email": "ewa@example.com", "role": roles.QA_LEAD, "days": 3})
    invitation = Invitation.objects.get()
    page = admin.get(reverse("core:invitations")).content.decode()
    assert "ewa@example.com" in page  # the page lists the invitations it made
    admin.logout()
    assert client.get(reverse("core:invitation_accept", args=[invitation.token])).status_code == 302
    _signup(client)
    user = get_user_model().objects.get(username="ewa")
    assert roles.role_names(user) == {roles.QA_LEAD}
    invitation.refresh_from_db()
    assert invitation.accepted_by == user
    # used invitations do not open sign-up again
    client.logout()
    assert client.get(reverse("core:invitation_accept", args=[invitation.token])).status_code == 403


def test_expired_invitation_is_refused(client, admin_user):
    inv = Invitation.objects.create(token="t" * 20, role=roles.ANNOTATOR, invited_by=admin_user,
                                    expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get(reverse("core:invitation_accept", args=[inv.token])).status_code == 403


def test_login_is_throttled(client, annotator):
    from tests.conftest import PASSWORD

    url = reverse("account_login")
    for _ in range(4):
        assert client.post(url, {"login": "ania", "password": "wrong"}).status_code == 200
    # the 5th failure locks this account from this address (django-axes; tests/core/test_login_throttle.py)
    assert client.post(url, {"login": "ania", "password": "wrong"}).status_code == 429
    # and then even the right password is refused for now
    response = client.post(url, {"login": "ania", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_login_works(client, annotator):
    from tests.conftest import PASSWORD

    response = client.post(reverse("account_login"), {"login": "ania", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("home:home")).status_code == 200
