"""Acceptance: a campaign survives a dead model server and a dead worker (real vLLM, Celery worker, Redis, PostgreSQL).

The worker runs with small budgets (2 attempts, 6 s leases, circuit opened by 2 unanswered requests and probed
every 1..4 s) and Celery beat inside it (resume_stalled_campaigns every 3 s, runners stale after 8 s), so what
takes minutes in production takes seconds here. The vLLM server's own restart (~40 s) is the slow part.
"""

import time
import uuid

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from generation.models import Campaign, Endpoint, Generation, PrePrompt
from generation.services.campaigns import campaign_create, campaign_start
from tests.factories import make_prompt
from tests.generation.support import ROOT, Worker, broker_url

pytestmark = [pytest.mark.vllm, pytest.mark.postgres]

WORKER_SETTINGS = {
    "STUDIO_GENERATION_MAX_ATTEMPTS": "2",
    "STUDIO_GENERATION_LEASE_SECONDS": "6",
    "STUDIO_CIRCUIT_FAILURE_THRESHOLD": "2",
    "STUDIO_CIRCUIT_PROBE_MIN_SECONDS": "1",
    "STUDIO_CIRCUIT_PROBE_MAX_SECONDS": "4",
    "STUDIO_RUNNER_STALE_SECONDS": "8",
    "STUDIO_RUNNER_RESUME_EVERY_SECONDS": "3",
}


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    if connection.vendor != "postgresql":
        pytest.skip("the Celery worker tests need PostgreSQL (DATABASE_URL): the worker is another process")
    s = connection.settings_dict
    db_url = f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    queue = f"gen-outage-{uuid.uuid4().hex[:8]}"
    broker = broker_url()
    from config.celery_app import app

    saved = app.conf.broker_url, app.conf.task_default_queue
    app.conf.broker_url, app.conf.task_default_queue = broker, queue
    log_path = ROOT / "var" / "log" / f"celery-{queue}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    worker = Worker(db_url=db_url, broker=broker, queue=queue, log_path=log_path, env=WORKER_SETTINGS,
                    beat=True).start()
    yield worker
    worker.stop()
    app.conf.broker_url, app.conf.task_default_queue = saved


def _campaign(server, name: str, n_prompts: int, **endpoint):
    endpoint = Endpoint.objects.create(**{"name": f"tiny-{uuid.uuid4().hex[:6]}", "base_url": server.base_url,
                                          "model": server.model, "is_active": True, **endpoint})
    prompts = [make_prompt() for _ in range(n_prompts)]
    preprompts = list(PrePrompt.objects.filter(key__in=["none", "safety"]))
    campaign = campaign_create(name=name, prompt_filter={"ids": [p.pk for p in prompts]}, endpoints=[endpoint],
                               preprompts=preprompts, params={"max_tokens": 48})
    assert campaign_start(campaign=campaign) == n_prompts * 2
    return campaign, endpoint


def _wait(condition, timeout: float, what: str, worker: Worker, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step)
    raise AssertionError(f"{what} within {timeout} s\n{worker.log_path.read_text()[-4000:]}")


def _done(campaign) -> int:
    return Generation.objects.filter(campaign=campaign, status=Generation.Status.DONE).count()


def _assert_complete(campaign, total: int) -> None:
    campaign.refresh_from_db()
    rows = list(Generation.objects.filter(campaign=campaign))
    keys = {(g.prompt_id, g.endpoint_id, g.preprompt_version_id, g.sample_index) for g in rows}
    assert len(rows) == len(keys) == total
    assert [g.status for g in rows] == [Generation.Status.DONE] * total, [(g.status, g.error) for g in rows]
    assert all(g.raw_text and g.completion_tokens and g.lease_owner == "" for g in rows)
    assert campaign.status == Campaign.Status.DONE


def test_server_down_longer_than_every_retry_budget_waits_then_resumes_by_itself(
    transactional_db, seeded, vllm_live, worker, admin_user, client, english
):
    campaign, endpoint = _campaign(vllm_live, "server dies", 10, max_concurrency=2, timeout_seconds=8)
    _wait(lambda: _done(campaign) >= 3, 120, "no progress before the server was stopped", worker)

    vllm_live.stop()  # in-flight requests hang until their 8 s timeout, new ones are refused
    stopped = time.monotonic()
    _wait(lambda: Endpoint.objects.get(pk=endpoint.pk).circuit_state == Endpoint.Circuit.OPEN, 60,
          "the circuit did not open", worker)

    # The outage is seen from the API and the page, and costs nothing: no row failed, no attempt was spent.
    api = APIClient()
    api.force_authenticate(admin_user)
    body = api.get(reverse("generation_api:campaign-status", args=[campaign.pk])).json()
    assert body["status"] == "running" and body["state"] == "waiting for endpoint", body
    assert body["progress"]["waiting_for"] == [endpoint.name] and body["progress"]["failed"] == 0
    client.force_login(admin_user)
    assert "waiting for endpoint" in client.get(reverse("generation:campaign_detail", args=[campaign.pk])).text
    # Longer than the old retry budget (2 attempts, ~2 s backoff) several times over, while the circuit probes.
    time.sleep(max(0.0, 15 - (time.monotonic() - stopped)))
    rows = Generation.objects.filter(campaign=campaign)
    assert not rows.filter(status=Generation.Status.FAILED).exists()
    # No attempt spent on the dead server: at most the requests in flight when it stopped spent one, on the
    # HTTP 500 a stopping vLLM answers them with (an answer, so it counts).
    assert sum(a - 1 for a in rows.values_list("attempts", flat=True) if a) <= endpoint.max_concurrency
    assert Endpoint.objects.get(pk=endpoint.pk).circuit_probes >= 2  # probed with backoff, not hammered

    vllm_live.start()  # blocks until the server answers (~40 s on 2 cores)
    _wait(lambda: Campaign.objects.get(pk=campaign.pk).status != Campaign.Status.RUNNING, 300,
          "the campaign did not finish after the server came back", worker, step=0.5)
    _assert_complete(campaign, 20)
    assert Endpoint.objects.get(pk=endpoint.pk).circuit_state == Endpoint.Circuit.CLOSED
    assert api.get(reverse("generation_api:campaign-status", args=[campaign.pk])).json()["state"] == "done"


def test_worker_killed_mid_campaign_resumes_within_a_minute(transactional_db, seeded, vllm_live, worker):
    """SIGKILL the worker while it holds leases; nothing redelivers its task (the visibility timeout outlasts the
    longest task), so beat in the new worker restarts the runner, which reclaims the rows once their 6 s leases
    lapse: they no longer count against max_concurrency."""
    campaign, endpoint = _campaign(vllm_live, "worker dies", 10, max_concurrency=2, timeout_seconds=30)
    _wait(lambda: _done(campaign) >= 2 and Generation.objects.filter(
        campaign=campaign, status=Generation.Status.RUNNING).exists(), 120, "nothing in flight", worker, step=0.05)
    worker.kill()
    killed = time.monotonic()
    leased = dict(Generation.objects.filter(campaign=campaign, status=Generation.Status.RUNNING)
                  .values_list("pk", "lease_owner"))
    assert leased
    done_before = _done(campaign)

    worker.start()
    _wait(lambda: _done(campaign) > done_before, 60 - (time.monotonic() - killed),
          "the campaign did not resume within a minute of the kill", worker)
    resumed = time.monotonic() - killed
    _wait(lambda: Campaign.objects.get(pk=campaign.pk).status != Campaign.Status.RUNNING, 300,
          "the campaign did not finish", worker, step=0.5)
    _assert_complete(campaign, 20)
    print(f"resumed {resumed:.1f} s after the kill")
