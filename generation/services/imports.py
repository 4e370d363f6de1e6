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

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import imports
from core import sql as core_sql
from core.text import normalize_text, text_hash
from prompts.models import Category, Prompt

from ..models import Endpoint, Generation, PrePrompt
from ..postprocess import echoes_preprompt, postprocess
from .runner import storable

FIELDS = frozenset({"prompt_id", "prompt", "category", "model", "response", "preprompt", "sample_index"})


@dataclass
class ResponseImportReport:
    created: int = 0
    prompts_created: int = 0
    echoes_preprompt: int = 0  # imported answers that repeat their pre-prompt (held out of tasks and exports)
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
    problem = imports.file_problem(data)
    if problem:
        report.errors.append((1, problem))
        return []
    preprompts = {p.key: p for p in PrePrompt.objects.all()}
    categories = {c.key: c for c in Category.objects.all()}
    rows = []
    seen: dict[tuple, int] = {}  # identical lines (same prompt, model, pre-prompt, sample and text)
    for number, line in imports.decoded_lines(data):
        if isinstance(line, imports.Problem):
            report.errors.append((number, line))
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            report.errors.append((number, f"not valid JSON: {exc}"))
            continue
        if not isinstance(obj, dict):
            report.errors.append((number, "a line must be a JSON object"))
            continue
        problems: list[str] = []
        unknown = sorted(set(obj) - FIELDS)
        if unknown:
            problems.append(f"unknown fields: {', '.join(unknown)} (known: {', '.join(sorted(FIELDS))})")
        if imports.text_field(obj, "response", problems, max_chars=settings.STUDIO_IMPORT_MAX_RESPONSE_CHARS):
            response = obj["response"]  # kept as written (raw_text is the model's exact output)
        else:
            response = ""
        model = imports.text_field(obj, "model", problems, max_chars=100)
        preprompt_key = imports.text_field(obj, "preprompt", problems, required=False, max_chars=64) or "none"
        preprompt = preprompts.get(preprompt_key)
        if preprompt is None:
            problems.append(f"unknown pre-prompt {preprompt_key!r} (known: {', '.join(sorted(preprompts))})")
        sample_index = imports.int_field(obj, "sample_index", problems, maximum=999)
        prompt_id = imports.int_field(obj, "prompt_id", problems, minimum=1)
        prompt_text = imports.text_field(obj, "prompt", problems, required=False)
        category_key = imports.text_field(obj, "category", problems, required=False, max_chars=64)
        prompt = new_prompt = None
        if prompt_id is not None:
            prompt = Prompt.objects.filter(pk=prompt_id).first()
            if prompt is None:
                problems.append(f"no prompt with id {prompt_id}")
        elif prompt_text:
            normalized = normalize_text(prompt_text)
            prompt = Prompt.objects.filter(normalized_hash=text_hash(normalized)).order_by("id").first()
            if prompt is None:
                category = categories.get(category_key)
                if category is None:
                    problems.append('prompt not found; give "category" (a category key) to create it')
                else:
                    new_prompt = {"text": prompt_text, "normalized": normalized,
                                  "normalized_hash": text_hash(normalized), "category": category}
        elif "prompt_id" not in obj and "prompt" not in obj:
            problems.append('give "prompt_id" or "prompt"')
        if not problems:
            key = (prompt.pk if prompt else new_prompt["normalized_hash"], model, preprompt_key, sample_index, response)
            if key in seen:
                problems.append(f"repeats line {seen[key]} (same prompt, model, pre-prompt and response)")
            seen.setdefault(key, number)
        if problems:
            report.errors.append((number, "; ".join(problems)))
            continue
        rows.append(_Row(number, prompt, new_prompt, model, preprompt, response, sample_index))
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
            text = postprocess(row.response)  # the same post-processing as a campaign's answers
            generations.append(Generation(
                prompt=prompt, endpoint=endpoint, preprompt_version=version, sample_index=index,
                status=Generation.Status.DONE, raw_text=storable(row.response), text=text,
                echoes_preprompt=echoes_preprompt(text, version.text),
                imported=True, finished_at=timezone.now(), params={"imported": True},
            ))
        if not report.ok:
            transaction.set_rollback(True)
            report.prompts_created = report.endpoints_created = 0
            return report
        Generation.objects.bulk_create(generations, batch_size=1000)
        # Task assembly's pool query reads these tables next; fresh statistics once committed.
        transaction.on_commit(lambda: core_sql.tables_analyze(Generation, Prompt))
        report.created = len(generations)
        report.echoes_preprompt = sum(g.echoes_preprompt for g in generations)
    return report

