"""One service error base: the DRF handler and the HTML helpers show a StudioError the same way."""

from http import HTTPStatus

import pytest
from django import forms
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from core.errors import Conflict, StudioError, error_messages, form_add_error
from generation.models import Campaign
from tests.factories import make_endpoint, make_prompt


class Refused(Conflict):
    """An app's error as the apps declare theirs: a subclass with its status."""


def _raising(exc: Exception):
    class Raising(APIView):
        def post(self, request):
            raise exc

    return Raising.as_view()


def _post(view, user):
    request = APIRequestFactory().post("/x/", {}, format="json")
    force_authenticate(request, user=user)
    return view(request)


@pytest.mark.django_db
def test_api_answers_a_studio_error_with_its_status_and_message(annotator):
    response = _post(_raising(Refused("Someone else holds this item.")), annotator)
    assert response.status_code == 409 and response.data == {"detail": "Someone else holds this item."}
    response = _post(_raising(StudioError("Bad filter.")), annotator)
    assert response.status_code == 400 and response.data == {"detail": "Bad filter."}
    response = _post(_raising(StudioError("Gone.", status=HTTPStatus.NOT_FOUND)), annotator)
    assert response.status_code == 404 and response.data == {"detail": "Gone."}


@pytest.mark.django_db
def test_api_answers_django_validation_errors_like_a_serializer(annotator):
    response = _post(_raising(ValidationError({"note": "Say why."})), annotator)
    assert response.status_code == 400 and response.data == {"note": ["Say why."]}
    response = _post(_raising(ValidationError("Unknown review target.")), annotator)
    assert response.status_code == 400 and response.data == {"non_field_errors": ["Unknown review target."]}


@pytest.mark.django_db
def test_other_exceptions_are_still_drf_s(annotator):
    class Open(APIView):
        def post(self, request):
            return Response({"ok": True})

    assert _post(Open.as_view(), annotator).status_code == 200
    anonymous = Open.as_view()(APIRequestFactory().post("/x/", {}, format="json"))
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"
    assert _post(_raising(Http404()), annotator).status_code == 404


class NoteForm(forms.Form):
    note = forms.CharField(required=False)


def test_form_helper_puts_field_messages_on_their_field_and_the_rest_on_top():
    form = NoteForm({"note": ""})
    assert form.is_valid()
    form_add_error(form, ValidationError({"note": "Say why.", "other": "Not a field of this form."}))
    form_add_error(form, Refused("This annotation was reviewed."))
    assert form.errors["note"] == ["Say why."]
    assert form.non_field_errors() == ["Not a field of this form.", "This annotation was reviewed."]
    assert "This annotation was reviewed." in str(form)


def test_error_messages_of_either_kind():
    assert error_messages(StudioError("Nope.")) == {"__all__": ["Nope."]}
    assert error_messages(ValidationError(["a", "b"])) == {"__all__": ["a", "b"]}
    assert error_messages(ValidationError({"x": "c"})) == {"x": ["c"]}


@pytest.mark.django_db
def test_a_page_shows_the_service_message_after_a_refused_action(seeded, admin_user, login):
    endpoint = make_endpoint("m1", base_url="http://127.0.0.1:9/v1", is_active=True)
    campaign = Campaign.objects.create(name="c", prompt_filter={"ids": [make_prompt().pk]})
    campaign.endpoints.set([endpoint])
    client = login(admin_user)
    response = client.post(reverse("generation:campaign_action", args=[campaign.pk, "pause"]))
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["only a running campaign can be paused"]
    api = APIClient()
    api.force_authenticate(admin_user)
    refused = api.post(reverse("generation_api:campaign-pause", args=[campaign.pk]))
    assert refused.status_code == 409 and refused.json() == {"detail": "only a running campaign can be paused"}


@pytest.mark.django_db
def test_one_url_one_view_per_operation(seeded, annotator, django_user_model):
    url = reverse("prompts_api:prompts")
    client = APIClient()
    client.force_authenticate(annotator)
    assert client.get(url).status_code == 200
    assert client.post(url, {"text": ""}, format="json").status_code == 400  # PromptCreateApi's serializer
    response = client.delete(url)
    assert response.status_code == 405 and response["Allow"] == "GET, POST, HEAD, OPTIONS"
    assert client.head(url).status_code == 200
    nobody = django_user_model.objects.create_user(username="nikt", password=None)
    client.force_authenticate(nobody)
    assert client.delete(url).status_code == 403  # permissions first, as the single view answered
    assert client.get(url).status_code == 403
