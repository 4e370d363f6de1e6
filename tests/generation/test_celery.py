"""Acceptance: campaigns through a real Celery worker (subprocess), Redis and PostgreSQL, against real vLLM.

The worker is another process, so it must see committed data in the *test* database: these tests use
``transactional_db`` and hand the worker a DATABASE_URL naming the test database. Each session uses its own
queue name, so other Celery workers on the same Redis never take our tasks.
"""

import time
import uuid

import pytest
from django.db import connection

from generation.models import Campaign, CampaignRunner, Endpoint, Generation, PrePrompt
from generation.services.campaigns import campaign_create, campaign_start, campaigns_resume_stalled
from tests.factories import make_prompt
from tests.generation.support import ROOT, Worker, broker_url

pytestmark = [pytest.mark.vllm, pytest.mark.postgres]


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    if connection.vendor != "postgresql":
        pytest.skip("the Celery worker tests need PostgreSQL (DATABASE_URL): the worker is another process")
    s = connection.settings_dict
    db_url = f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    queue = f"gen-test-{uuid.uuid4().hex[:8]}"
    broker = broker_url()
    from config.celery_app import app

    app.conf.broker_url = broker
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    app.conf.task_default_queue = queue
    log_path = ROOT / "var" / "log" / f"celery-{queue}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    worker = Worker(db_url=db_url, broker=broker, queue=queue, log_path=log_path).start()
    yield worker
    worker.stop()


def _endpoint(server, **kwargs) -> Endpoint:
    defaults = {"name": "tiny", "base_url": server.base_url, "model": server.model, "max_concurrency": 4,
                "timeout_seconds": 20, "is_active": True}
    defaults.update(kwargs)
    return Endpoint.objects.create(**defaults)


def _wait_done(campaign: Campaign, timeout: float, worker: Worker) -> Campaign:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        campaign.refresh_from_db()
        if campaign.status == Campaign.Status.DONE:
            return campaign
        time.sleep(0.5)
    counts = list(Generation.objects.filter(campaign=campaign).values_list("status", "attempts", "error"))
    raise AssertionError(f"campaign not done: {campaign.status} {counts}\n{worker.log_path.read_text()[-3000:]}")


def _assert_each_stored_once(campaign: Campaign, *, prompts, preprompts, samples=1) -> list[Generation]:
    rows = list(Generation.objects.filter(campaign=campaign).select_related("preprompt_version__preprompt"))
    keys = [(g.prompt_id, g.endpoint_id, g.preprompt_version_id, g.sample_index) for g in rows]
    assert len(keys) == len(set(keys)) == len(prompts) * len(preprompts) * samples
    assert {g.prompt_id for g in rows} == {p.pk for p in prompts}
    assert {g.preprompt_version.preprompt.key for g in rows} == {p.key for p in preprompts}
    for g in rows:
        assert g.status == Generation.Status.DONE, (g.status, g.error)
        assert g.raw_text and g.completion_tokens and g.prompt_tokens and g.latency_ms is not None
        assert g.preprompt_version.text == g.preprompt_version.preprompt.current_version().text
        assert g.lease_owner == "" and g.lease_until is None
    return rows


def test_campaign_through_celery_worker_stores_each_generation_once(
    transactional_db, seeded, vllm_live, celery_worker
):
    prompts = [make_prompt() for _ in range(5)]
    preprompts = list(PrePrompt.objects.filter(key__in=["safety", "misinformation"]))
    endpoint = _endpoint(vllm_live)
    campaign = campaign_create(name="acceptance", prompt_filter={"ids": [p.pk for p in prompts]},
                               endpoints=[endpoint], preprompts=preprompts, params={"max_tokens": 16})
    assert campaign_start(campaign=campaign) == 10  # enqueues the runner on commit (autocommit here)
    _wait_done(campaign, 240, celery_worker)
    rows = _assert_each_stored_once(campaign, prompts=prompts, preprompts=preprompts)
    assert all(g.attempts == 1 for g in rows)
    assert CampaignRunner.objects.get(campaign=campaign, endpoint=endpoint).heartbeat_at is not None


def test_model_server_dies_mid_campaign_nothing_lost_nothing_duplicated(
    transactional_db, seeded, vllm_live, celery_worker
):
    prompts = [make_prompt() for _ in range(10)]
    preprompts = list(PrePrompt.objects.filter(key__in=["none", "verbosity"]))
    endpoint = _endpoint(vllm_live, max_concurrency=2, timeout_seconds=10)
    campaign = campaign_create(name="server dies", prompt_filter={"ids": [p.pk for p in prompts]},
                               endpoints=[endpoint], preprompts=preprompts, params={"max_tokens": 48})
    campaign_start(campaign=campaign)
    deadline = time.monotonic() + 120
    while Generation.objects.filter(campaign=campaign, status=Generation.Status.DONE).count() < 3:
        assert time.monotonic() < deadline, "no progress before the server was stopped"
        time.sleep(0.2)
    vllm_live.stop()  # requests in flight hang until their timeout; new ones are refused
    deadline = time.monotonic() + 60
    while not Generation.objects.filter(campaign=campaign).exclude(error="").exists():
        assert time.monotonic() < deadline, "no error recorded while the server was down"
        time.sleep(0.5)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.RUNNING
    vllm_live.start()
    _wait_done(campaign, 400, celery_worker)
    rows = _assert_each_stored_once(campaign, prompts=prompts, preprompts=preprompts)
    # Requests that got no answer were retried without spending attempts; only those in flight when the server
    # went down may have spent one, on the HTTP 500 a stopping vLLM answers them with.
    assert sum(g.attempts - 1 for g in rows) <= endpoint.max_concurrency
    assert len(rows) == 20  # …and still each exactly once


def test_worker_killed_mid_campaign_is_revived_without_loss(transactional_db, seeded, vllm_live, celery_worker):
    """SIGKILL the worker while it holds leases; a new worker (beat's resume) reclaims the rows once the
    leases expire, and every generation is stored once."""
    prompts = [make_prompt() for _ in range(6)]
    preprompts = list(PrePrompt.objects.filter(key__in=["none", "safety"]))
    endpoint = _endpoint(vllm_live, max_concurrency=2, timeout_seconds=5)
    campaign = campaign_create(name="worker dies", prompt_filter={"ids": [p.pk for p in prompts]},
                               endpoints=[endpoint], preprompts=preprompts, params={"max_tokens": 48})
    campaign_start(campaign=campaign)
    deadline = time.monotonic() + 120
    while not Generation.objects.filter(campaign=campaign, status=Generation.Status.RUNNING).exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    celery_worker.kill()
    assert Generation.objects.filter(campaign=campaign, status=Generation.Status.RUNNING).exists()
    celery_worker.start()
    # The broker may redeliver the task; beat's resume does not wait for that.
    time.sleep(1)
    campaigns_resume_stalled(stale_after_seconds=0)
    _wait_done(campaign, 300, celery_worker)
    _assert_each_stored_once(campaign, prompts=prompts, preprompts=preprompts)
