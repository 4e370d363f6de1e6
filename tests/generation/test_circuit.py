"""The endpoint circuit and the attempt rules, without a model server: a closed port (127.0.0.1:9) is a dead one."""

import datetime as dt

import httpx
import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from generation import client, selectors
from generation.models import Campaign, Endpoint, Generation, PrePrompt
from generation.services.campaigns import (
    campaign_create,
    campaign_maybe_finish,
    campaign_retry_failed,
    campaign_start,
)
from generation.services.circuit import (
    circuit_record_answer,
    circuit_record_failure,
    circuit_record_probe,
    circuit_take_probe,
    probe_delay,
)
from generation.services.runner import (
    campaign_run_endpoint,
    generation_record_error,
    generation_record_result,
    generations_claim,
    generations_renew_leases,
)
from tests.factories import make_endpoint, make_prompt

C = Endpoint.Circuit
G = Generation.Status
DEAD = "http://127.0.0.1:9/v1"


@pytest.fixture
def budgets(settings):
    settings.STUDIO_CIRCUIT_FAILURE_THRESHOLD = 3
    settings.STUDIO_CIRCUIT_PROBE_MIN_SECONDS = 5
    settings.STUDIO_CIRCUIT_PROBE_MAX_SECONDS = 60
    settings.STUDIO_GENERATION_MAX_ATTEMPTS = 2
    settings.STUDIO_GENERATION_LEASE_SECONDS = 30
    return settings


def _campaign(n_prompts=3, max_concurrency=2, name="m1"):
    prompts = [make_prompt() for _ in range(n_prompts)]
    endpoint = make_endpoint(name, base_url=DEAD, is_active=True, max_concurrency=max_concurrency, timeout_seconds=2)
    campaign = campaign_create(name="c", prompt_filter={"ids": [p.pk for p in prompts]}, endpoints=[endpoint],
                               preprompts=list(PrePrompt.objects.filter(key="none")))
    campaign_start(campaign=campaign, enqueue=False)
    return campaign, endpoint


def _state(endpoint) -> Endpoint:
    return Endpoint.objects.get(pk=endpoint.pk)


# --- the state machine ------------------------------------------------------------------------------------


def test_probe_backoff_doubles_and_is_capped(budgets):
    assert [probe_delay(n) for n in range(6)] == [5, 10, 20, 40, 60, 60]
    assert probe_delay(1000) == 60


def test_circuit_opens_after_consecutive_failures_and_an_answer_resets_the_count(db, budgets):
    endpoint = make_endpoint("m", base_url=DEAD)
    assert circuit_record_failure(endpoint_id=endpoint.pk) == C.CLOSED
    assert circuit_record_failure(endpoint_id=endpoint.pk) == C.CLOSED
    assert circuit_record_answer(endpoint_id=endpoint.pk)  # not consecutive any more
    assert not circuit_record_answer(endpoint_id=endpoint.pk)  # nothing to reset: no write
    assert _state(endpoint).consecutive_failures == 0
    now = timezone.now()
    for _ in range(2):
        circuit_record_failure(endpoint_id=endpoint.pk, now=now)
    assert circuit_record_failure(endpoint_id=endpoint.pk, now=now) == C.OPEN
    row = _state(endpoint)
    assert row.circuit_opened_at == now and row.next_probe_at == now + dt.timedelta(seconds=5)
    assert row.consecutive_failures == 3 and row.circuit_probes == 0
    assert circuit_record_failure(endpoint_id=endpoint.pk, now=now) == C.OPEN  # stragglers only count


def test_open_circuit_is_probed_with_backoff_half_opens_then_closes(db, budgets):
    endpoint = make_endpoint("m", base_url=DEAD)
    t0 = timezone.now()
    for _ in range(3):
        circuit_record_failure(endpoint_id=endpoint.pk, now=t0)
    assert not circuit_take_probe(endpoint_id=endpoint.pk, now=t0 + dt.timedelta(seconds=4))  # not due
    t1 = t0 + dt.timedelta(seconds=5)
    assert circuit_take_probe(endpoint_id=endpoint.pk, now=t1)
    assert not circuit_take_probe(endpoint_id=endpoint.pk, now=t1)  # one prober at a time
    assert circuit_record_probe(endpoint_id=endpoint.pk, ok=False, now=t1) == C.OPEN
    assert _state(endpoint).next_probe_at == t1 + dt.timedelta(seconds=10)
    t2 = t1 + dt.timedelta(seconds=10)
    assert circuit_take_probe(endpoint_id=endpoint.pk, now=t2)
    assert circuit_record_probe(endpoint_id=endpoint.pk, ok=False, now=t2) == C.OPEN
    assert _state(endpoint).next_probe_at == t2 + dt.timedelta(seconds=20)
    t3 = t2 + dt.timedelta(seconds=20)
    assert circuit_take_probe(endpoint_id=endpoint.pk, now=t3)
    assert circuit_record_probe(endpoint_id=endpoint.pk, ok=True, now=t3) == C.HALF_OPEN
    # The trial request gets no answer: open again, and the backoff continues where it was.
    assert circuit_record_failure(endpoint_id=endpoint.pk, now=t3) == C.OPEN
    row = _state(endpoint)
    assert row.next_probe_at == t3 + dt.timedelta(seconds=40) and row.circuit_opened_at == t0
    circuit_take_probe(endpoint_id=endpoint.pk, now=row.next_probe_at)
    assert circuit_record_probe(endpoint_id=endpoint.pk, ok=True) == C.HALF_OPEN
    assert circuit_record_answer(endpoint_id=endpoint.pk)
    row = _state(endpoint)
    assert (row.circuit_state, row.consecutive_failures, row.circuit_probes) == (C.CLOSED, 0, 0)
    assert row.circuit_opened_at is None and row.next_probe_at is None


def test_claims_stop_while_open_and_allow_one_request_while_half_open(seeded, budgets):
    campaign, endpoint = _campaign(n_prompts=4, max_concurrency=3)
    Endpoint.objects.filter(pk=endpoint.pk).update(circuit_state=C.OPEN, circuit_opened_at=timezone.now())
    assert generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="a" * 32, limit=3) == []
    assert set(Generation.objects.filter(campaign=campaign).values_list("attempts", flat=True)) == {0}
    Endpoint.objects.filter(pk=endpoint.pk).update(circuit_state=C.HALF_OPEN)
    assert len(generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="a" * 32, limit=3)) == 1
    assert generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="b" * 32, limit=3) == []
    circuit_record_answer(endpoint_id=endpoint.pk)
    assert len(generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="b" * 32, limit=3)) == 2


# --- what spends an attempt ---------------------------------------------------------------------------------


def test_transport_errors_are_unreachable_http_errors_are_answers():
    endpoint = Endpoint(name="x", base_url=DEAD, model="m")
    request = httpx.Request("POST", DEAD)
    for exc in (httpx.ConnectError("refused", request=request), httpx.ReadTimeout("slow", request=request),
                httpx.RemoteProtocolError("dropped", request=request)):
        assert isinstance(client._transport_error(exc, endpoint), client.UnreachableError)
    with pytest.raises(client.UnreachableError):
        client.chat(endpoint, [{"role": "user", "content": "x"}], timeout=2)  # a closed port: refused
    response = httpx.Response(503, request=request, text="overloaded")
    with pytest.raises(client.TransientError) as exc:
        client._raise_for_status(response)
    assert not isinstance(exc.value, client.UnreachableError)


def test_model_errors_spend_attempts_connection_errors_do_not(seeded, budgets):
    campaign, endpoint = _campaign(n_prompts=3, max_concurrency=3)
    owner = "a" * 32
    refused, overloaded, bad = generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner=owner, limit=3)
    assert generation_record_error(job=refused, owner=owner, error=client.UnreachableError("ConnectError"),
                                   campaign_cancelled=False) == G.PENDING
    assert generation_record_error(job=overloaded, owner=owner, error=client.TransientError("HTTP 503"),
                                   campaign_cancelled=False) == G.RETRYING
    assert generation_record_error(job=bad, owner=owner, error=client.PermanentError("HTTP 400"),
                                   campaign_cancelled=False) == G.FAILED
    rows = {g.pk: g for g in Generation.objects.filter(campaign=campaign)}
    assert (rows[refused.generation_id].status, rows[refused.generation_id].attempts) == (G.PENDING, 0)
    assert "not counted" in rows[refused.generation_id].error and rows[refused.generation_id].lease_owner == ""
    assert (rows[overloaded.generation_id].status, rows[overloaded.generation_id].attempts) == (G.RETRYING, 1)
    assert (rows[bad.generation_id].status, rows[bad.generation_id].attempts) == (G.FAILED, 1)
    # A dead server, however many times: the row never runs out of attempts.
    for _ in range(5):
        (job,) = generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner=owner, limit=1)
        assert job.generation_id == refused.generation_id and job.attempt == 1
        generation_record_error(job=job, owner=owner, error=client.UnreachableError("ReadTimeout"),
                                campaign_cancelled=False)
    assert Generation.objects.get(pk=refused.generation_id).attempts == 0
    # A live server's transient errors do: the second 503 is the last (STUDIO_GENERATION_MAX_ATTEMPTS = 2).
    Generation.objects.filter(pk=overloaded.generation_id).update(next_attempt_at=timezone.now())
    jobs = generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner=owner, limit=2)
    again = next(j for j in jobs if j.generation_id == overloaded.generation_id)
    assert generation_record_error(job=again, owner=owner, error=client.TransientError("HTTP 503"),
                                   campaign_cancelled=False) == G.FAILED


def test_runner_against_a_dead_server_pauses_without_spending_attempts(seeded, budgets):
    budgets.STUDIO_CIRCUIT_PROBE_MIN_SECONDS = 1
    budgets.STUDIO_CIRCUIT_PROBE_MAX_SECONDS = 2
    campaign, endpoint = _campaign(n_prompts=6, max_concurrency=2)
    report = campaign_run_endpoint(campaign_id=campaign.pk, endpoint_id=endpoint.pk, max_seconds=4)
    assert report.unanswered >= 3 and report.failed == 0 and report.probes >= 1, report
    assert report.continued  # slice over with work left: the task hands over and keeps waiting
    rows = Generation.objects.filter(campaign=campaign)
    assert set(rows.values_list("status", "attempts")) == {(G.PENDING, 0)}
    row = _state(endpoint)
    assert row.circuit_state == C.OPEN and row.circuit_probes >= 1 and row.last_health["ok"] is False
    campaign.refresh_from_db()
    progress = selectors.campaign_progress(campaign)
    assert campaign.status == Campaign.Status.RUNNING and progress.waiting_for == (endpoint.name,)
    assert selectors.campaign_state(campaign, progress) == "waiting for endpoint"


# --- leases -------------------------------------------------------------------------------------------------


def test_leases_are_short_renewed_by_the_heartbeat_and_a_lapsed_one_frees_its_slot(seeded, budgets):
    budgets.STUDIO_GENERATION_LEASE_SECONDS = 30
    campaign, endpoint = _campaign(n_prompts=4, max_concurrency=2)
    before = timezone.now()
    jobs = generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="a" * 32, limit=2)
    leases = list(Generation.objects.filter(lease_owner="a" * 32).values_list("lease_until", flat=True))
    assert all(dt.timedelta(seconds=29) < lease - before < dt.timedelta(seconds=32) for lease in leases)
    Generation.objects.filter(lease_owner="a" * 32).update(lease_until=timezone.now() + dt.timedelta(seconds=1))
    assert generations_renew_leases(owner="a" * 32) == 2
    assert Generation.objects.filter(lease_owner="a" * 32, lease_until__gt=timezone.now() + dt.timedelta(seconds=25)
                                     ).count() == 2
    # The worker dies: no renewal. While the leases live, its rows fill the endpoint; once lapsed, they don't.
    assert generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="b" * 32, limit=2) == []
    Generation.objects.filter(lease_owner="a" * 32).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    taken = generations_claim(campaign_id=campaign.pk, endpoint=endpoint, owner="b" * 32, limit=2)
    assert {j.generation_id for j in taken} == {j.generation_id for j in jobs}  # oldest first: the dead ones
    result = client.ChatResult(text="late", finish_reason="stop", prompt_tokens=1, completion_tokens=1, latency_ms=1)
    assert not generation_record_result(job=jobs[0], owner="a" * 32, result=result)


# --- how a campaign ends -------------------------------------------------------------------------------------


def test_done_only_when_every_generation_succeeded_else_done_with_failures(seeded, budgets):
    campaign, _ = _campaign(n_prompts=2)
    first, second = Generation.objects.filter(campaign=campaign).order_by("id")
    Generation.objects.filter(pk=first.pk).update(status=G.DONE)
    Generation.objects.filter(pk=second.pk).update(status=G.FAILED, error="HTTP 400")
    assert campaign_maybe_finish(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE_WITH_FAILURES
    assert selectors.campaign_state(campaign, selectors.campaign_progress(campaign)) == "done with failures"
    assert campaign_retry_failed(campaign=campaign) == 1  # still available, and reopens the campaign
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    Generation.objects.filter(pk=second.pk).update(status=G.DONE)
    assert campaign_maybe_finish(campaign_id=campaign.pk)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE


def test_waiting_and_failures_shown_on_the_page_and_in_the_api(seeded, budgets, admin_user, client, english):
    campaign, endpoint = _campaign(n_prompts=2)
    Endpoint.objects.filter(pk=endpoint.pk).update(circuit_state=C.OPEN, circuit_opened_at=timezone.now())
    api = APIClient()
    api.force_authenticate(admin_user)
    body = api.get(reverse("generation_api:campaign-status", args=[campaign.pk])).json()
    assert body["state"] == body["progress"]["state"] == "waiting for endpoint"
    assert body["progress"]["waiting_for"] == [endpoint.name]
    client.force_login(admin_user)
    page = client.get(reverse("generation:campaign_detail", args=[campaign.pk])).text
    assert "waiting for endpoint" in page and 'id="waiting-for"' in page
    assert "Down: waiting for the server" in client.get(reverse("generation:endpoint_list")).text
    Generation.objects.filter(campaign=campaign).update(status=G.FAILED, error="HTTP 400")
    campaign_maybe_finish(campaign_id=campaign.pk)
    body = api.get(reverse("generation_api:campaign-status", args=[campaign.pk])).json()
    assert (body["status"], body["state"], body["progress"]["failed"]) == ("done_with_failures",
                                                                             "done with failures", 2)
    page = client.get(reverse("generation:campaign_detail", args=[campaign.pk])).text
    assert 'id="done-with-failures"' in page and "retry_failed" in page


# --- Celery settings ----------------------------------------------------------------------------------------


def test_visibility_timeout_outlasts_every_task():
    """acks_late + Redis: a task running longer than the visibility timeout would be delivered twice."""
    from config.celery_app import app

    app.loader.import_default_modules()
    limits = [t.time_limit or django_settings.CELERY_TASK_TIME_LIMIT
              for name, t in app.tasks.items() if not name.startswith("celery.")]
    assert max(limits) <= django_settings.CELERY_LONGEST_TASK_SECONDS
    assert django_settings.CELERY_BEAT_SCHEDULE["resume-campaigns"]["schedule"] + \
        django_settings.STUDIO_RUNNER_STALE_SECONDS <= 60  # a dead runner's campaign resumes within a minute
