"""403, 404 and 500 pages: styled like the site, with its navigation; the 500 page needs no database."""

import pytest
from django.test import RequestFactory
from django.urls import path, reverse
from django.views import defaults

from config.urls import urlpatterns as site_urlpatterns


def _boom(request):
    raise RuntimeError("boom")


# The site's routes plus one that fails: ROOT_URLCONF for the 500 test (base.html reverses the site's names).
urlpatterns = [*site_urlpatterns, path("boom/", _boom)]


@pytest.mark.django_db
def test_404_has_the_site_navigation(login, annotator):
    response = login(annotator).get("/no-such-page/")
    assert response.status_code == 404
    assert "404.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert 'id="error-404"' in page and 'class="mainnav"' in page
    assert f'href="{reverse("prompts:guidelines")}"' in page and 'rel="icon"' in page


@pytest.mark.django_db
def test_403_has_the_site_navigation_and_the_reason(login, annotator):
    client = login(annotator)
    response = client.get(reverse("qa:dashboard"))
    assert response.status_code == 403
    page = response.content.decode()
    assert 'id="error-403"' in page and 'class="mainnav"' in page
    refused = client.get(reverse("core:invitation_accept", args=["no-such-token"]))
    assert refused.status_code == 403 and 'id="error-403"' in refused.content.decode()
    assert str(refused.context["exception"]) in refused.content.decode()  # why: the invitation is invalid


@pytest.mark.django_db
def test_404_for_anonymous_visitors(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and 'id="error-404"' in response.content.decode()


def test_500_renders_without_the_database():
    """No django_db mark: any query would fail the test. Django's server_error renders without a request
    context (no user, no session), so base.html must not need one either."""
    response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    page = response.content.decode()
    assert 'id="error-500"' in page and 'class="topbar"' in page and 'rel="icon"' in page
    assert 'href="/"' in page


@pytest.mark.django_db
def test_a_failing_view_shows_the_500_page(client, settings):
    settings.ROOT_URLCONF = __name__
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == 500 and 'id="error-500"' in response.content.decode()


@pytest.mark.django_db
def test_login_page_does_not_offer_a_closed_sign_up(client):
    """Sign-up is by invitation: no link to allauth's sign-up (it answers "Sign Up Closed"), a note instead."""
    page = client.get(reverse("account_login")).content.decode()
    assert reverse("account_signup") not in page
    assert 'id="invitation-only"' in page
    closed = client.get(reverse("account_signup"))  # still reachable by URL, still closed without an invitation
    assert closed.status_code == 200 and 'id="invitation-only"' in closed.content.decode()
    assert "account/signup_closed.html" in [t.name for t in closed.templates]
