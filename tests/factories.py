"""Data factories built on the services, so tests exercise the same code paths users do."""

import itertools

from core.text import normalize_text, text_hash
from prompts.models import Category, Prompt

_counter = itertools.count(1)


def make_prompt(*, text: str | None = None, category: str = "qa_polish", author=None, topic=None) -> Prompt:
    text = text or f"Pytanie testowe numer {next(_counter)}: jaka jest stolica Polski?"
    normalized = normalize_text(text)
    return Prompt.objects.create(
        text=text,
        normalized=normalized,
        normalized_hash=text_hash(normalized),
        category=Category.objects.get(key=category),
        topic=topic,
        author=author,
    )


def make_endpoint(name: str = "model-a", **kwargs):
    from generation.models import Endpoint

    defaults = {"base_url": "", "model": name, "is_active": False}
    defaults.update(kwargs)
    return Endpoint.objects.get_or_create(name=name, defaults=defaults)[0]


def make_generation(prompt, endpoint, *, text: str, preprompt_key: str = "none", sample_index: int = 0):
    from generation.models import Generation, PrePrompt

    version = PrePrompt.objects.get(key=preprompt_key).versions.order_by("-version").first()
    return Generation.objects.create(
        prompt=prompt,
        endpoint=endpoint,
        preprompt_version=version,
        sample_index=sample_index,
        status=Generation.Status.DONE,
        raw_text=text,
        text=text,
        imported=True,
    )


# --- QA factories (rows created directly, shaped like the submission services' output) ----------------

def make_qa_rating_pair(*, category: str = "qa_polish", texts=("Odpowiedź A", "Odpowiedź B"), prompt=None,
                        is_gold: bool = False):
    """Two rating tasks of one prompt (two distinct models), the two halves of one RatingPair (`task.pair`)."""
    from annotation.models import RatingPair, Task, TaskKind, TaskResponse

    prompt = prompt or make_prompt(category=category)
    pair = RatingPair.objects.create(prompt=prompt)
    tasks = []
    for index, text in enumerate(texts):
        endpoint = make_endpoint(f"qa-model-{index}")
        task = Task.objects.create(kind=TaskKind.RATING, prompt=prompt, pair=pair, is_gold=is_gold)
        TaskResponse.objects.create(task=task, generation=make_generation(prompt, endpoint, text=text), position=0)
        tasks.append(task)
    return tasks[0], tasks[1]


def make_qa_ranking_task(*, category: str = "qa_polish", texts=None, prompt=None, is_gold: bool = False):
    """A ranking task with four responses from four models; returns (task, [TaskResponse ids by position])."""
    from annotation.models import Task, TaskKind, TaskResponse

    prompt = prompt or make_prompt(category=category)
    texts = texts or [f"Odpowiedź {i + 1}" for i in range(4)]
    task = Task.objects.create(kind=TaskKind.RANKING, prompt=prompt, is_gold=is_gold)
    ids = []
    for index, text in enumerate(texts):
        generation = make_generation(prompt, make_endpoint(f"qa-model-{index}"), text=text)
        ids.append(TaskResponse.objects.create(task=task, generation=generation, position=index).id)
    return task, ids


def make_qa_rating(task, annotator, scores, *, skip_reason: str = "", time_ms: int = 30_000, created=None):
    """A current rating; ``scores`` is a dict or one int for all seven criteria."""
    from annotation.models import Rating
    from prompts.models import Criterion

    if isinstance(scores, int):
        scores = dict.fromkeys(Criterion.objects.values_list("key", flat=True), scores)
    rating = Rating.objects.create(task=task, annotator=annotator, scores={} if skip_reason else scores,
                                   skip_reason=skip_reason, time_ms=time_ms)
    if created is not None:
        Rating.objects.filter(pk=rating.pk).update(created=created)
    return rating


def make_qa_ranking(task, annotator, order, *, display_order=None, custom_text: str = "", time_ms: int = 60_000):
    from annotation.models import Ranking

    return Ranking.objects.create(task=task, annotator=annotator, order=list(order),
                                  display_order=list(display_order or order), custom_text=custom_text,
                                  all_unacceptable=bool(custom_text), time_ms=time_ms)


def make_qa_dialog(annotator, turns, *, status: str = "finished"):
    """A dialog with three seats A/B/C; ``turns`` is a list of (column_order, chosen label or None, custom)."""
    from dialogs.models import Dialog, DialogCandidate, DialogSeat, DialogTurn
    from prompts.models import DialogTypology

    dialog = Dialog.objects.create(annotator=annotator, status=status)
    seats = {label: DialogSeat.objects.create(dialog=dialog, label=label,
                                              endpoint=make_endpoint(f"qa-dialog-model-{label}"))
             for label in "ABC"}
    typology = DialogTypology.objects.first()
    for index, (column_order, chosen_label, custom_text) in enumerate(turns, start=1):
        turn = DialogTurn.objects.create(dialog=dialog, index=index, user_text=f"Pytanie {index}",
                                         typology=typology, column_order=list(column_order),
                                         custom_text=custom_text or "", time_ms=20_000)
        candidates = {label: DialogCandidate.objects.create(turn=turn, seat=seat, status="done",
                                                            text=f"Odpowiedź {label}{index}")
                      for label, seat in seats.items()}
        if chosen_label:
            turn.chosen = candidates[chosen_label]
            turn.save(update_fields=["chosen"])
    return dialog


def make_dialog_pool(*, base_url: str = "", model: str = "tiny", max_tokens: int = 24):
    """Three active endpoints in the dialog pool (model-a/b/c); in tests they may share one real server."""
    endpoints = []
    for name in ("model-a", "model-b", "model-c"):
        endpoint = make_endpoint(name)
        endpoint.base_url, endpoint.model, endpoint.max_tokens = base_url, model, max_tokens
        endpoint.is_active = endpoint.in_dialog_pool = True
        endpoint.save()
        endpoints.append(endpoint)
    return endpoints


def make_dialog(annotator, *, turns: int = 4, custom_on: tuple[int, ...] = (), finish: bool = True):
    """A dialog with `turns` decided turns made without a model server (answers written directly).

    Turn i chooses seat A, except turns in `custom_on`, which get a custom answer edited from seat B.
    Needs the dialog typologies (`seeded` fixture) and creates the pool endpoints if missing.
    """
    import uuid

    from dialogs import services as dialog_services
    from dialogs.models import DialogCandidate
    from prompts.models import DialogTypology

    make_dialog_pool(base_url="http://127.0.0.1:9/v1")
    dialog = dialog_services.dialog_start(annotator=annotator)
    typology = DialogTypology.objects.order_by("position").first()
    for index in range(1, turns + 1):
        turn = dialog_services.dialog_turn_start(dialog=dialog, user_text=f"Pytanie {index}?", typology=typology)
        for candidate in turn.candidates.select_related("seat"):
            candidate.status = DialogCandidate.Status.DONE
            candidate.text = f"Odpowiedź {candidate.seat.label} na pytanie {index}."
            candidate.save(update_fields=["status", "text"])
        if index in custom_on:
            dialog_services.dialog_turn_decide(turn=turn, submission_id=uuid.uuid4(), choice="custom",
                                               custom_text=f"Poprawiona odpowiedź {index}.", custom_from="B")
        else:
            dialog_services.dialog_turn_decide(turn=turn, submission_id=uuid.uuid4(), choice="A")
    if finish and turns >= dialog_services.MIN_TURNS:
        dialog = dialog_services.dialog_finish(dialog=dialog)
    return dialog


# --- Rating / ranking items for assignment and submission tests -----------------------------------------

def make_rating_task(*, prompt=None, text: str = "Stolicą Polski jest Warszawa.", overlap: int = 2,
                     is_gold: bool = False, pair=None, author=None, endpoint: str = "rate-model-a"):
    """One rating item (one response) with `overlap` free slots; `pair`: the RatingPair it is a half of."""
    from annotation.models import Task, TaskKind, TaskResponse

    prompt = prompt or make_prompt(author=author)
    task = Task.objects.create(kind=TaskKind.RATING, prompt=prompt, overlap=overlap, remaining=overlap,
                               is_gold=is_gold, pair=pair)
    generation = make_generation(prompt, make_endpoint(endpoint), text=text)
    TaskResponse.objects.create(task=task, generation=generation, position=0)
    return task


def make_ranking_task(*, prompt=None, texts=None, overlap: int = 1, is_gold: bool = False, author=None):
    """One ranking item with four responses from four models (TaskResponse positions 0..3)."""
    from annotation.models import Task, TaskKind, TaskResponse

    prompt = prompt or make_prompt(author=author)
    texts = texts or [f"Odpowiedź numer {i + 1}." for i in range(4)]
    task = Task.objects.create(kind=TaskKind.RANKING, prompt=prompt, overlap=overlap, remaining=overlap,
                               is_gold=is_gold)
    for index, text in enumerate(texts):
        generation = make_generation(prompt, make_endpoint(f"rank-model-{index}"), text=text)
        TaskResponse.objects.create(task=task, generation=generation, position=index)
    return task


# --- Export corpus: annotations made through the claim / submission / dialog / review services ----------

def make_export_corpus(annotators, *, reviewer, n_ranking: int = 8, n_rating_pairs: int = 5, n_dialogs: int = 2):
    """Ranking, rating and dialog annotations by `annotators`, all through the real services.

    Ranking item i gets distinct texts; its last response is a hard reject. Item 0 is all-unacceptable
    with a custom answer that `reviewer` approves (so the default export keeps it). Every rating pair has
    one response rated 5 and one rated 2 by each annotator. Dialogs: 4 turns, turn 2 a custom answer;
    the reviewer approves every dialog and edits turn 2's custom answer. Returns a dict of what was made.
    """
    import uuid

    from annotation.models import TaskKind
    from annotation.services import assignment, submissions
    from dialogs.models import Dialog
    from qa import services as qa_services

    rankings, tasks = [], []
    for i in range(n_ranking):
        prompt = make_prompt(text=f"Eksport: pytanie rankingowe {i} — co to jest żubr?")
        task, _ids = make_qa_ranking_task(prompt=prompt, texts=[f"Odpowiedź {x} na pytanie {i}." for x in "ABCD"])
        tasks.append(task)
    for annotator in annotators:
        for _ in range(n_ranking):
            claim = assignment.task_claim_next(annotator=annotator, kind=TaskKind.RANKING)
            if claim is None:
                break
            order = sorted(claim.display_order)
            custom = claim.task_id == tasks[0].pk
            submitted = submissions.ranking_submit(
                annotator=annotator, task_id=claim.task_id, submission_id=uuid.uuid4(), order=order,
                order_confirmed_unchanged=True, hardness={str(order[-1]): "hard"}, all_unacceptable=custom,
                custom_text="Własna odpowiedź: żubr to największy ssak lądowy Europy." if custom else "",
            )
            rankings.append(submitted.annotation)
    for ranking in rankings:
        if ranking.custom_text:
            qa_services.review_decide(reviewer=reviewer, target_kind="ranking", target_id=ranking.pk,
                                      decision="approve")
    pairs = []
    for i in range(n_rating_pairs):
        prompt = make_prompt(text=f"Eksport: pytanie do oceny {i} — opisz Wisłę.")
        pairs.append(make_qa_rating_pair(prompt=prompt, texts=(f"Dobra odpowiedź {i}.", f"Słaba odpowiedź {i}.")))
    good = {t.pk for t, _ in pairs}
    ratings = []
    for annotator in annotators:
        while True:
            claim = assignment.task_claim_next(annotator=annotator, kind=TaskKind.RATING)
            if claim is None:
                break
            score = 5 if claim.task_id in good else 2
            keys = submissions.criterion_keys()
            ratings.append(submissions.rating_submit(
                annotator=annotator, task_id=claim.task_id, submission_id=uuid.uuid4(),
                scores=dict.fromkeys(keys, score),
            ).annotation)
    dialogs = []
    for d in range(n_dialogs):
        dialog = make_dialog(annotators[d % len(annotators)], turns=4, custom_on=(2,))
        qa_services.review_decide(reviewer=reviewer, target_kind="dialog", target_id=dialog.pk, decision="approve")
        turn = dialog.turns.get(index=2)
        qa_services.review_decide(reviewer=reviewer, target_kind="dialog_turn", target_id=turn.pk, decision="edit",
                                  edited_text=f"Poprawiona przez QA odpowiedź {d}.")
        dialogs.append(Dialog.objects.get(pk=dialog.pk))
    return {"ranking_tasks": tasks, "rankings": rankings, "rating_pairs": pairs, "ratings": ratings,
            "dialogs": dialogs}
