"""Benchmark: the QA dashboard, review queue counts and coverage on ~100k annotations.

    .venv/bin/python bench/qa_dashboard.py [--rating-pairs 17500] [--rankings 10000] [--annotators 50]
                                           [--dialogs 400]

Uses its own database (DATABASE_URL, default a SQLite file under /tmp), migrates and fills it once with
bulk inserts, then prints how long each read takes and how many queries it runs. Figures, not assertions.
"""

import argparse
import os
import random
import time

from _common import make_annotators, prepare_database, setup_django

setup_django(os.environ.get("DATABASE_URL", "sqlite:////tmp/studio-bench-qa.sqlite3"))

from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def fill(n_rating_pairs: int, n_rankings: int, n_annotators: int, n_dialogs: int, seed: int = 7) -> None:
    from annotation.models import Ranking, Rating, RatingPair, Task, TaskResponse
    from dialogs.models import Dialog, DialogCandidate, DialogSeat, DialogTurn
    from generation.models import Endpoint, Generation, PrePromptVersion
    from home.seeding import reference_seed
    from prompts.models import Category, Criterion, DialogTypology, Prompt

    rng = random.Random(seed)
    reference_seed()
    annotators = make_annotators(n_annotators, "bench{:03d}")
    categories = list(Category.objects.all())
    keys = list(Criterion.objects.values_list("key", flat=True))
    endpoints = [Endpoint.objects.create(name=f"bench-model-{i}", model=f"m{i}") for i in range(4)]
    version = PrePromptVersion.objects.filter(preprompt__key="none").first()
    leniency = {a.id: rng.choice([-1, 0, 0, 0, 1]) for a in annotators}

    def prompts(n):
        objs = [Prompt(text=f"Bench prompt {rng.random()}", normalized="x", normalized_hash=f"{rng.random()}",
                       category=rng.choice(categories)) for _ in range(n)]
        return Prompt.objects.bulk_create(objs, batch_size=2000)

    def tasks_with_responses(kind, prompt_list, n_responses, per_prompt):
        generations = Generation.objects.bulk_create(
            [Generation(prompt=p, endpoint=endpoints[k], preprompt_version=version, status="done", text="odp")
             for p in prompt_list for k in range(n_responses)], batch_size=2000)
        pairs = {}
        if kind == "rating":
            made = RatingPair.objects.bulk_create([RatingPair(prompt=p) for p in prompt_list], batch_size=2000)
            pairs = {pair.prompt_id: pair for pair in made}
        tasks = Task.objects.bulk_create(
            [Task(kind=kind, prompt=p, pair=pairs.get(p.id), remaining=0)
             for p in prompt_list for _ in range(per_prompt)], batch_size=2000)
        responses = []
        for index, task in enumerate(tasks):
            if kind == "rating":
                responses.append(TaskResponse(task=task, generation=generations[index], position=0))
            else:
                for k in range(n_responses):
                    responses.append(TaskResponse(task=task, generation=generations[index * n_responses + k],
                                                  position=k))
        return tasks, TaskResponse.objects.bulk_create(responses, batch_size=5000)

    with transaction.atomic():
        rating_tasks, _ = tasks_with_responses("rating", prompts(n_rating_pairs), 2, 2)
        ratings = []
        for task in rating_tasks:
            base = rng.randint(2, 5)
            for annotator in rng.sample(annotators, 2):
                scores = {k: min(5, max(1, base + leniency[annotator.id] + rng.choice([-1, 0, 0, 1]))) for k in keys}
                skip = rng.random() < 0.03
                ratings.append(Rating(task=task, annotator=annotator, scores={} if skip else scores,
                                      skip_reason="cannot_fact_check" if skip else "", time_ms=rng.randint(20, 400) * 1000))
        Rating.objects.bulk_create(ratings, batch_size=5000)
        ranking_tasks, responses = tasks_with_responses("ranking", prompts(n_rankings), 4, 1)
        by_task = {}
        for r in responses:
            by_task.setdefault(r.task_id, []).append(r.id)
        rankings = []
        for task in ranking_tasks:
            ids = by_task[task.id]
            for annotator in rng.sample(annotators, 2):
                shown = rng.sample(ids, 4)
                order = rng.sample(ids, 4)
                custom = "Własna odpowiedź" if rng.random() < 0.05 else ""
                rankings.append(Ranking(task=task, annotator=annotator, order=order, display_order=shown,
                                        custom_text=custom, all_unacceptable=bool(custom),
                                        time_ms=rng.randint(30, 600) * 1000))
        Ranking.objects.bulk_create(rankings, batch_size=5000)
        typology = DialogTypology.objects.first()
        for _ in range(n_dialogs):
            dialog = Dialog.objects.create(annotator=rng.choice(annotators), status="finished")
            seats = [DialogSeat.objects.create(dialog=dialog, label=label, endpoint=endpoints[i])
                     for i, label in enumerate("ABC")]
            for index in range(1, 8):
                turn = DialogTurn.objects.create(dialog=dialog, index=index, user_text="?", typology=typology,
                                                 column_order=rng.sample("ABC", 3), time_ms=30_000)
                cands = DialogCandidate.objects.bulk_create(
                    [DialogCandidate(turn=turn, seat=s, status="done", text="x") for s in seats])
                turn.chosen = rng.choice(cands)
                turn.save(update_fields=["chosen"])


def timed(label, fn):
    with CaptureQueriesContext(connection) as ctx:
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
    print(f"{label:<40} {elapsed:8.2f} s  {len(ctx.captured_queries):4d} queries")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rating-pairs", type=int, default=17_500)
    parser.add_argument("--rankings", type=int, default=10_000)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--dialogs", type=int, default=400)
    args = parser.parse_args()
    prepare_database(seed=False)  # seeding is part of the timed fill below
    from annotation.models import Ranking, Rating

    if not Rating.objects.exists():
        start = time.perf_counter()
        fill(args.rating_pairs, args.rankings, args.annotators, args.dialogs)
        print(f"filled in {time.perf_counter() - start:.1f} s")
    print(f"ratings {Rating.objects.count()}, rankings {Ranking.objects.count()}")

    from qa import reports, selectors

    data = timed("store_dashboard (all, cold)", lambda: reports.store_dashboard(selectors.Filters()))
    timed("cached_dashboard (warm, what a page view pays)", lambda: reports.cached_dashboard(selectors.Filters()))
    print("  alpha", {k: round(e.value, 3) for k, e in data.alpha.items() if e.value is not None})
    timed("build_dashboard (ranking only)", lambda: reports.build_dashboard(selectors.Filters(task_type="ranking")))
    timed("gold_accuracy", reports.gold_accuracy)
    timed("queue_counts", selectors.queue_counts)
    timed("coverage", selectors.coverage)
    timed("custom queue, first page", lambda: list(selectors.custom_ranking_queue("pending")[:50]))


if __name__ == "__main__":
    main()
