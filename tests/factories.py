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
