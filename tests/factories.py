"""Data factories built on the services, so tests exercise the same code paths users do."""

import itertools

from annotation.models import Category, Prompt
from annotation.text import normalize_text, text_hash

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
    """Two rating tasks of one prompt (two distinct models) sharing a pair key."""
    from annotation.models import Task, TaskKind, TaskResponse

    prompt = prompt or make_prompt(category=category)
    tasks = []
    for index, text in enumerate(texts):
        endpoint = make_endpoint(f"qa-model-{index}")
        task = Task.objects.create(kind=TaskKind.RATING, prompt=prompt, pair_key=f"pair-{prompt.id}",
                                   is_gold=is_gold)
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
    from annotation.models import Criterion, Rating

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
    from annotation.models import Dialog, DialogCandidate, DialogSeat, DialogTurn, DialogTypology

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
