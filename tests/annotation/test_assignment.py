"""Assignment: overlap, never twice, leases, gold interleaving, own prompts, and parallel claims on PostgreSQL."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from annotation import sql
from annotation.models import AnnotatorQueue, Claim, Rating, Task, TaskKind
from annotation.services import assignment, submissions
from annotation.tasks import expire_claims
from core import roles
from tests.annotation.support import SCORES
from tests.conftest import PASSWORD
from tests.factories import make_prompt, make_ranking_task, make_rating_task


@pytest.fixture(autouse=True)
def _only_others_prompts(settings):
    """These tests rely on annotators never being offered items on their own prompts (also the default)."""
    settings.STUDIO_NO_OWN_PROMPTS = True


def make_annotators(django_user_model, n):
    people = []
    for i in range(n):
        user = django_user_model.objects.create_user(username=f"ann{i}", password=PASSWORD)
        roles.set_role(user, roles.ANNOTATOR)
        people.append(user)
    return people


def rate(user, task_id):
    return submissions.rating_submit(annotator=user, task_id=task_id, submission_id=uuid.uuid4(), scores=SCORES)


def test_overlap_is_respected_and_nobody_gets_an_item_twice(seeded, django_user_model):
    task = make_rating_task(overlap=2)
    a, b, c = make_annotators(django_user_model, 3)
    first = assignment.task_claim_next(annotator=a, kind=TaskKind.RATING)
    assert first.task_id == task.id
    rate(a, task.id)
    # a has done it: nothing more for a, even though one slot is free
    assert assignment.task_claim_next(annotator=a, kind=TaskKind.RATING) is None
    assert assignment.task_claim_next(annotator=b, kind=TaskKind.RATING).task_id == task.id
    assert assignment.task_claim_next(annotator=c, kind=TaskKind.RATING) is None  # both slots taken
    task.refresh_from_db()
    assert task.remaining == 0


def test_a_held_claim_is_resumed_not_duplicated(seeded, annotator):
    make_rating_task()
    make_rating_task()
    one = assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING)
    again = assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING)
    assert again.pk == one.pk
    assert Claim.objects.filter(annotator=annotator).count() == 1


def test_claims_are_per_kind_so_types_can_be_switched(seeded, annotator):
    rating = make_rating_task()
    ranking = make_ranking_task()
    assert assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING).task_id == rating.id
    claim = assignment.task_claim_next(annotator=annotator, kind=TaskKind.RANKING)
    assert claim.task_id == ranking.id
    # the four responses, shuffled for this annotator and stored
    assert sorted(claim.display_order) == sorted(ranking.task_responses.values_list("id", flat=True))


def test_display_order_is_randomised_per_annotator(seeded, django_user_model):
    task = make_ranking_task(overlap=12)
    orders = set()
    for user in make_annotators(django_user_model, 12):
        orders.add(tuple(assignment.task_claim_next(annotator=user, kind=TaskKind.RANKING).display_order))
    assert len(orders) > 1
    assert Task.objects.get(pk=task.pk).remaining == 0


def test_own_prompts_are_not_assigned_when_configured(seeded, annotator, settings):
    make_rating_task(author=annotator)
    assert assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING) is None
    settings.STUDIO_NO_OWN_PROMPTS = False
    assert assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING) is not None


def test_expired_lease_returns_the_slot_and_submission_renews_it_if_free(seeded, annotator, annotator2):
    task = make_rating_task(overlap=1)
    claim = assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING)
    Claim.objects.filter(pk=claim.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_claims() == 1
    task.refresh_from_db()
    assert task.remaining == 1
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.EXPIRED
    # the slot is free again: the late submission is accepted and retakes it
    rate(annotator, task.id)
    task.refresh_from_db()
    assert task.remaining == 0
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.SUBMITTED


def test_late_submission_is_refused_when_someone_else_took_the_slot(seeded, annotator, annotator2):
    task = make_rating_task(overlap=1)
    claim = assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING)
    Claim.objects.filter(pk=claim.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assignment.claims_expire()
    assert assignment.task_claim_next(annotator=annotator2, kind=TaskKind.RATING).task_id == task.id
    with pytest.raises(assignment.ClaimNotHeld):
        rate(annotator, task.id)
    assert not Rating.objects.filter(annotator=annotator).exists()
    assert Task.objects.get(pk=task.pk).remaining == 0


def test_release_gives_the_slot_back_but_not_to_the_same_person(seeded, annotator, annotator2):
    task = make_rating_task(overlap=1)
    assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING)
    assignment.claim_release(annotator=annotator, task_id=task.id)
    assert Task.objects.get(pk=task.pk).remaining == 1
    assert assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING) is None
    assert assignment.task_claim_next(annotator=annotator2, kind=TaskKind.RATING).task_id == task.id
    with pytest.raises(assignment.ClaimNotHeld):
        assignment.claim_release(annotator=annotator, task_id=task.id)


def test_submitting_to_an_item_one_does_not_hold_is_refused(seeded, annotator, annotator2):
    task = make_rating_task(overlap=2)
    assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING)
    with pytest.raises(assignment.ClaimNotHeld):
        rate(annotator2, task.id)
    assert not Rating.objects.exists()


def test_gold_goes_to_everyone_interleaved(seeded, django_user_model, settings):
    settings.STUDIO_GOLD_EVERY = 3
    gold = make_rating_task(is_gold=True, overlap=1)
    normal = [make_rating_task(overlap=1) for _ in range(4)]
    people = make_annotators(django_user_model, 3)
    for user in people:
        # the first claim of each annotator (0 claims so far, 0 % 3 == 0) prefers unseen gold
        claim = assignment.task_claim_next(annotator=user, kind=TaskKind.RATING)
        assert claim.task_id == gold.id
        rate(user, claim.task_id)
    gold.refresh_from_db()
    assert gold.remaining == 1  # gold does not use slots
    user = people[0]
    got = []
    for _ in range(3):
        claim = assignment.task_claim_next(annotator=user, kind=TaskKind.RATING)
        got.append(claim.task_id)
        rate(user, claim.task_id)
    assert got == [t.id for t in normal[:3]]
    assert Rating.objects.filter(task=gold).count() == 3


def test_gold_is_served_when_normal_work_runs_out(seeded, annotator, settings):
    normal = make_rating_task(overlap=1)
    gold = make_rating_task(is_gold=True)
    settings.STUDIO_GOLD_EVERY = 0  # gold only interleaved when nothing else is left
    assert assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING).task_id == normal.id
    rate(annotator, normal.id)
    assert assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING).task_id == gold.id


def test_the_queue_starts_after_the_items_one_already_had(seeded, annotator, annotator2, settings):
    settings.STUDIO_GOLD_EVERY = 0
    tasks = [make_rating_task(overlap=2) for _ in range(4)]
    for task in tasks[:3]:
        assert assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING).task_id == task.id
        rate(annotator, task.id)
    queue = AnnotatorQueue.objects.get(annotator=annotator, kind=TaskKind.RATING)
    assert (queue.claims, queue.claimed_through) == (3, tasks[2].id)  # all three stay open (overlap 2)
    # Someone else's queue is their own: they still get the oldest item.
    assert assignment.task_claim_next(annotator=annotator2, kind=TaskKind.RATING).task_id == tasks[0].id
    assert AnnotatorQueue.objects.get(annotator=annotator2, kind=TaskKind.RATING).claimed_through == tasks[1].id - 1
    # Tasks appearing below the queue's start (a late-committing assembly) rewind it.
    assignment.annotator_queues_rewind(kind=TaskKind.RATING, first_task_id=tasks[1].id)
    queue.refresh_from_db()
    assert queue.claimed_through == tasks[0].id
    assert assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING).task_id == tasks[3].id


def test_the_gold_turn_counts_claims_of_every_kind(seeded, annotator, settings):
    settings.STUDIO_GOLD_EVERY = 2
    ranking = make_ranking_task()
    normal = make_rating_task()
    gold = make_rating_task(is_gold=True)
    # claim 0 (ranking; no ranking gold) takes the normal ranking item; claim 1 is no gold turn; claim 2 is.
    assert assignment.task_claim_next(annotator=annotator, kind=TaskKind.RANKING).task_id == ranking.id
    assert assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING).task_id == normal.id
    rate(annotator, normal.id)
    assert sum(AnnotatorQueue.objects.filter(annotator=annotator).values_list("claims", flat=True)) == 2
    assert assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING).task_id == gold.id


def test_unknown_kind_is_an_error(seeded, annotator):
    with pytest.raises(ValueError):
        assignment.task_claim_next(annotator=annotator, kind="dialog")


# --------------------------------------------------------------------------------------------------
# Parallel clients (PostgreSQL: row locks with SKIP LOCKED)
# --------------------------------------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_clients_claim_and_submit_in_parallel(seeded, django_user_model):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    overlap = 2
    prompts = [make_prompt() for _ in range(20)]
    tasks = [make_rating_task(prompt=p, overlap=overlap, endpoint=f"m{i % 2}") for i, p in enumerate(prompts)]
    gold = make_rating_task(is_gold=True)
    people = make_annotators(django_user_model, 16)
    errors = []
    barrier = threading.Barrier(len(people))

    def work(user):
        # Through the API (the Django test client calls the real WSGI stack in this thread).
        client = Client()
        client.force_login(user)
        try:
            barrier.wait()
            while True:
                response = client.post("/api/tasks/next/", {"kind": "rating"}, content_type="application/json")
                if response.status_code == 204:
                    return
                if response.status_code != 200:
                    errors.append(f"claim {response.status_code}")
                    return
                url = f"/api/tasks/{response.json()['task_id']}/rating/"
                payload = {"submission_id": str(uuid.uuid4()), "scores": SCORES}
                first = client.post(url, payload, content_type="application/json")
                again = client.post(url, payload, content_type="application/json")  # a retry stores nothing new
                if first.status_code != 201 or again.status_code != 200 or again.json()["id"] != first.json()["id"]:
                    errors.append(f"submit {first.status_code}/{again.status_code}")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(user,)) for user in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    for task in tasks:
        ratings = list(Rating.objects.filter(task=task).values_list("annotator_id", flat=True))
        assert len(ratings) == overlap, task.id
        assert len(set(ratings)) == overlap
    assert Rating.objects.filter(task=gold).count() == len(people)
    assert not Task.objects.filter(pk__in=[t.pk for t in tasks], remaining__gt=0).exists()
    assert not Claim.objects.filter(status=Claim.Status.ACTIVE).exists()


@pytest.mark.postgres
def test_candidate_query_probes_the_claim_index_once_per_candidate(seeded, annotator):
    """The next-item query must not read the annotator's claims as a set (an anti join over all of them,
    whose cost grows with their history): whatever the statistics, each candidate task is one probe of the
    claim (task, annotator) unique index. Checked in the worst case, the queue start at 0 and 300 claimed
    items still open (overlap 2, nobody else annotating), before and after ANALYZE."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    prompt = make_prompt()
    tasks = Task.objects.bulk_create(
        Task(kind=TaskKind.RATING, prompt=prompt, overlap=2, remaining=1) for _ in range(300)
    )
    Task.objects.bulk_create(Task(kind=TaskKind.RATING, prompt=prompt, overlap=2, remaining=2) for _ in range(50))
    now = timezone.now()
    Claim.objects.bulk_create(
        Claim(task=t, annotator=annotator, status=Claim.Status.SUBMITTED, claimed_at=now, expires_at=now)
        for t in tasks
    )
    statement, params = sql.task_next_candidate(
        kind=TaskKind.RATING, annotator_id=annotator.pk, gold=False, skip_own=True, after=0
    )
    claim_table = Claim._meta.db_table
    for analyzed in (False, True):
        if analyzed:
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {claim_table}")
                cursor.execute(f"ANALYZE {Task._meta.db_table}")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + statement, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Anti Join" not in plan, plan
        assert "SubPlan" in plan, plan
        lines = [line.strip().removeprefix("->").strip() for line in plan.splitlines()]
        claim_scans = [i for i, line in enumerate(lines) if f" on {claim_table}" in line]
        assert claim_scans, plan
        for i in claim_scans:  # index probes keyed by the candidate task, never a scan by annotator
            assert lines[i].startswith(("Index Scan", "Index Only Scan")), plan
            assert lines[i + 1].startswith("Index Cond:") and "task_id = t.id" in lines[i + 1], plan
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            assert cursor.fetchone()[0] == tasks[-1].id + 1

