"""Import of existing responses (JSONL): annotate without any model server. All or nothing, line numbers.

One JSON object per line:
  prompt_id | prompt (text; with "category" it is created when it does not exist yet)
  model            the model's name (an endpoint of that name is created, without URL, if needed)
  response         the answer text
  preprompt        optional pre-prompt key (default "none"); its current version is recorded
  sample_index     optional; default: the next free index for that prompt, model and pre-prompt
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from core.text import normalize_text, text_hash
from prompts.models import Category, Prompt

from ..models import Endpoint, Generation, PrePrompt
from ..postprocess import postprocess
from .runner import storable

MAX_LINE_CHARS = 1_000_000


@dataclass
class ResponseImportReport:
    created: int = 0
    prompts_created: int = 0
    endpoints_created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Row:
    line: int
    prompt: Prompt | None
    new_prompt: dict | None
    model: str
    preprompt: PrePrompt
    response: str
    sample_index: int | None


def _parse(data: bytes, report: ResponseImportReport) -> list[_Row]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report.errors.append((1, f"the file is not UTF-8 ({exc.reason} at byte {exc.start})"))
        return []
    preprompts = {p.key: p for p in PrePrompt.objects.all()}
    categories = {c.key: c for c in Category.objects.all()}
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            report.errors.append((number, "line too long"))
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            report.errors.append((number, f"not valid JSON: {exc}"))
            continue
        if not isinstance(obj, dict):
            report.errors.append((number, "a line must be a JSON object"))
            continue
        problems = []
        response = obj.get("response")
        if not isinstance(response, str) or not response.strip():
            problems.append('"response" must be a non-empty string')
        model = obj.get("model")
        if not isinstance(model, str) or not model.strip() or len(model) > 100:
            problems.append('"model" must be a model name (at most 100 characters)')
        preprompt = preprompts.get(obj.get("preprompt") or "none")
        if preprompt is None:
            problems.append(f'unknown pre-prompt {obj.get("preprompt")!r} (known: {", ".join(sorted(preprompts))})')
        sample_index = obj.get("sample_index")
        if sample_index is not None and (not isinstance(sample_index, int) or not 0 <= sample_index < 1000):
            problems.append('"sample_index" must be an integer 0..999')
        prompt = new_prompt = None
        if obj.get("prompt_id") is not None:
            prompt = Prompt.objects.filter(pk=obj["prompt_id"]).first() if isinstance(obj["prompt_id"], int) else None
            if prompt is None:
                problems.append(f"no prompt with id {obj['prompt_id']!r}")
        elif isinstance(obj.get("prompt"), str) and obj["prompt"].strip():
            normalized = normalize_text(obj["prompt"])
            prompt = Prompt.objects.filter(normalized_hash=text_hash(normalized)).order_by("id").first()
            if prompt is None:
                category = categories.get(obj.get("category") or "")
                if category is None:
                    problems.append('prompt not found; give "category" (a category key) to create it')
                else:
                    new_prompt = {"text": obj["prompt"].strip(), "normalized": normalized,
                                  "normalized_hash": text_hash(normalized), "category": category}
        else:
            problems.append('give "prompt_id" or "prompt"')
        if problems:
            report.errors.append((number, "; ".join(problems)))
            continue
        rows.append(_Row(number, prompt, new_prompt, model.strip(), preprompt, response, sample_index))
    return rows


def responses_import(*, data: bytes, user=None) -> ResponseImportReport:
    """Validate every line first; save nothing unless every line is good."""
    report = ResponseImportReport()
    rows = _parse(data, report)
    if not rows and not report.errors:
        report.errors.append((1, "the file has no lines"))
    if not report.ok:
        return report
    with transaction.atomic():
        new_prompts: dict[str, Prompt] = {}
        endpoints = {e.name: e for e in Endpoint.objects.filter(name__in={r.model for r in rows})}
        versions = {p.pk: p.current_version() for p in {r.preprompt for r in rows}}
        taken: dict[tuple, set[int]] = {}
        generations = []
        for row in rows:
            prompt = row.prompt
            if prompt is None:
                key = row.new_prompt["normalized_hash"]
                if key not in new_prompts:
                    new_prompts[key] = Prompt.objects.create(author=user, **row.new_prompt)
                    report.prompts_created += 1
                prompt = new_prompts[key]
            endpoint = endpoints.get(row.model)
            if endpoint is None:
                endpoint = endpoints[row.model] = Endpoint.objects.create(
                    name=row.model, model=row.model, base_url="", is_active=False
                )
                report.endpoints_created += 1
            version = versions[row.preprompt.pk]
            combo = (prompt.pk, endpoint.pk, version.pk)
            if combo not in taken:
                existing = Generation.objects.filter(prompt=prompt, endpoint=endpoint, preprompt_version=version)
                taken[combo] = set(existing.values_list("sample_index", flat=True))
            index = row.sample_index
            if index is None:
                index = max(taken[combo], default=-1) + 1
            elif index in taken[combo]:
                report.errors.append((row.line, f"a response for this prompt, model, pre-prompt and sample "
                                                f"{index} already exists"))
                continue
            taken[combo].add(index)
            generations.append(Generation(
                prompt=prompt, endpoint=endpoint, preprompt_version=version, sample_index=index,
                status=Generation.Status.DONE, raw_text=storable(row.response), text=postprocess(row.response),
                imported=True, finished_at=timezone.now(), params={"imported": True},
            ))
        if not report.ok:
            transaction.set_rollback(True)
            report.prompts_created = report.endpoints_created = 0
            return report
        Generation.objects.bulk_create(generations, batch_size=1000)
        report.created = len(generations)
    return report

