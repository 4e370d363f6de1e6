"""Prompt collection: create, edit, duplicate checks, red-team templates and bulk import."""

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from core import imports
from core.errors import StudioError
from core.text import normalize_text, similar, text_hash
from prompts.models import Category, Prompt, PromptSource, RedTeamTemplate, Topic

SLOT_RE = re.compile(r"\{([^\W\d]\w*)\}")  # {unsafe_action}, {szkodliwe_działanie}: letters of any language
NEAR_DUPLICATE_THRESHOLD = 85.0


class PromptError(StudioError):
    """A prompt that cannot be saved, with a message fit for the user."""


@dataclass(frozen=True)
class DuplicateMatch:
    prompt_id: int
    text: str
    score: float  # 100 = identical after normalisation
    exact: bool


def prompt_duplicates(*, text: str, exclude_id: int | None = None, limit: int = 5) -> list[DuplicateMatch]:
    """Exact (normalised-hash) and near duplicates among existing prompts, best first.

    Near duplicates are searched among prompts sharing a rare word with the new one, so the scan
    stays proportional to plausible candidates rather than to the whole collection.
    """
    normalized = normalize_text(text)
    if not normalized:
        return []
    exact_qs = Prompt.objects.filter(normalized_hash=text_hash(normalized))
    if exclude_id:
        exact_qs = exact_qs.exclude(pk=exclude_id)
    matches = [DuplicateMatch(p.pk, p.text, 100.0, True) for p in exact_qs.only("id", "text")[:limit]]
    seen = {m.prompt_id for m in matches}
    words = sorted(set(normalized.split()), key=len, reverse=True)[:3]
    candidates: dict[int, str] = {}
    if words:
        qs = Prompt.objects.all()
        if exclude_id:
            qs = qs.exclude(pk=exclude_id)
        from django.db.models import Q

        cond = Q()
        for word in words:
            cond |= Q(normalized__contains=word)
        for pk, norm in qs.filter(cond).values_list("id", "normalized")[:2000]:
            if pk not in seen:
                candidates[pk] = norm
    near = similar(normalized, candidates, threshold=NEAR_DUPLICATE_THRESHOLD, limit=limit)
    texts = dict(Prompt.objects.filter(pk__in=[pk for pk, _ in near]).values_list("id", "text"))
    matches += [DuplicateMatch(pk, texts[pk], score, score >= 100.0) for pk, score in near]
    return matches[:limit]


def template_slots(template_text: str) -> list[str]:
    seen: list[str] = []
    for name in SLOT_RE.findall(template_text):
        if name not in seen:
            seen.append(name)
    return seen


def template_fill(*, template: RedTeamTemplate, values: dict[str, str]) -> str:
    missing = [slot for slot in template_slots(template.text) if not (values.get(slot) or "").strip()]
    if missing:
        raise PromptError(_("Fill in every slot: %(slots)s") % {"slots": ", ".join(missing)})
    return SLOT_RE.sub(lambda m: values[m.group(1)].strip(), template.text)


def _check_topic(category: Category, topic: Topic | None) -> None:
    if topic is not None and not topic.categories.filter(pk=category.pk).exists():
        raise PromptError(_("The topic “%(topic)s” does not belong to the category “%(category)s”.")
                          % {"topic": topic, "category": category})


@transaction.atomic
def prompt_create(
    *,
    author,
    text: str,
    category: Category,
    topic: Topic | None = None,
    source: str = PromptSource.ORIGINAL,
    template: RedTeamTemplate | None = None,
    slot_values: dict | None = None,
    duplicate_reason: str = "",
) -> Prompt:
    text = text.strip()
    if not text:
        raise PromptError(_("The prompt is empty."))
    _check_topic(category, topic)
    normalized = normalize_text(text)
    return Prompt.objects.create(
        author=author,
        text=text,
        normalized=normalized,
        normalized_hash=text_hash(normalized),
        category=category,
        topic=topic,
        source=source,
        template=template,
        slot_values=slot_values or {},
        duplicate_reason=duplicate_reason.strip(),
    )


def prompt_is_editable(prompt: Prompt) -> bool:
    """A prompt can be edited until it is used: generated for or put in a task."""
    return not (prompt.generations.exists() or prompt.tasks.exists())


@transaction.atomic
def prompt_update(
    *, prompt: Prompt, text: str, category: Category, topic: Topic | None, source: str, duplicate_reason: str = ""
) -> Prompt:
    prompt = Prompt.objects.select_for_update().get(pk=prompt.pk)
    if not prompt_is_editable(prompt):
        raise PromptError(_("This prompt is already used in a task and can no longer be edited."))
    text = text.strip()
    if not text:
        raise PromptError(_("The prompt is empty."))
    _check_topic(category, topic)
    prompt.text = text
    prompt.normalized = normalize_text(text)
    prompt.normalized_hash = text_hash(prompt.normalized)
    prompt.category = category
    prompt.topic = topic
    prompt.source = source
    prompt.duplicate_reason = duplicate_reason.strip()
    prompt.save(update_fields=["text", "normalized", "normalized_hash", "category", "topic", "source",
                               "duplicate_reason", "updated"])
    return prompt


# --- bulk import -------------------------------------------------------------------------------------

IMPORT_FIELDS = ("text", "category", "topic", "source")


@dataclass
class ImportReport:
    created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    duplicates: list[tuple[int, str]] = field(default_factory=list)  # (line number, what it duplicates)

    @property
    def ok(self) -> bool:
        return not self.errors


def _read_rows(data: bytes, fmt: str):
    """Yield (line number, dict or Problem) from CSV or JSONL bytes; blank lines are skipped."""
    problem = imports.file_problem(data)
    if problem:
        yield 1, problem
        return
    lines = list(imports.decoded_lines(data))
    undecodable = [(n, text) for n, text in lines if isinstance(text, imports.Problem)]
    if undecodable:
        yield from undecodable
        return
    if fmt == "jsonl":
        for number, line in lines:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, imports.Problem(_("invalid JSON: %(error)s") % {"error": exc.msg})
                continue
            yield number, row if isinstance(row, dict) else imports.Problem(_("a line must be a JSON object"))
        return
    text = "\n".join(line for _n, line in lines)
    reader = csv.DictReader(io.StringIO(text), restkey=_EXTRA_CELLS)
    missing = [f for f in ("text", "category") if f not in (reader.fieldnames or [])]
    if missing:
        yield 1, imports.Problem(_("missing CSV columns: %(columns)s") % {"columns": ", ".join(missing)})
        return
    try:
        for row in reader:
            # line_num counts physical lines, so multi-line quoted prompts still get their real line.
            yield reader.line_num, row
    except csv.Error as exc:
        yield reader.line_num, imports.Problem(_("invalid CSV: %(error)s") % {"error": exc})


_EXTRA_CELLS = "\x00extra"  # DictReader's key for cells beyond the header (a name no column can have)


def detect_format(filename: str, data: bytes) -> str:
    name = filename.lower()
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    return "jsonl" if data.lstrip()[:1] == b"{" else "csv"


def prompts_import(*, data: bytes, fmt: str, author, allow_duplicates: bool = False) -> ImportReport:
    """All or nothing: every bad line is reported with its number, and nothing is saved unless all are good.

    Duplicates (of existing prompts or of earlier lines in the file) count as errors unless
    `allow_duplicates` is set, in which case they are saved and listed.
    """
    report = ImportReport()
    categories = {c.key: c for c in Category.objects.all()}
    topics_by_name: dict[tuple[int, str], Topic] = {}
    for topic in Topic.objects.prefetch_related("categories"):
        for category in topic.categories.all():
            for name in (topic.name_en, topic.name_pl):  # an import may name the topic in either language
                if name:
                    topics_by_name.setdefault((category.pk, name.casefold()), topic)
    sources = {choice.value for choice in PromptSource}
    valid: list[tuple[int, dict]] = []
    ids_seen: dict[Any, int] = {}  # an optional "id" column: the file's own ids, which must not repeat
    for number, row in _read_rows(data, fmt):
        if isinstance(row, str):
            report.errors.append((number, row))
            continue
        problems: list[str] = []
        if row.get(_EXTRA_CELLS):
            problems.append(_("more cells than the header has columns"))
        unknown = sorted(set(row) - set(IMPORT_FIELDS) - {"id", _EXTRA_CELLS})
        if unknown:
            problems.append(_("unknown fields: %(fields)s") % {"fields": ", ".join(map(str, unknown))})
        text = imports.text_field(row, "text", problems)
        category_key = imports.text_field(row, "category", problems, max_chars=64)
        category = categories.get(category_key) if category_key else None
        if category_key and category is None:
            problems.append(_("unknown category %(value)r") % {"value": category_key})
        topic_name = imports.text_field(row, "topic", problems, required=False, max_chars=200)
        source = imports.text_field(row, "source", problems, required=False, max_chars=32) or PromptSource.ORIGINAL
        if row.get("id") is not None:
            row_id = row["id"] if fmt == "jsonl" else str(row["id"]).strip()
            if isinstance(row_id, bool | dict | list | float):
                problems.append(_('"id" must be an integer or a string'))
            elif row_id != "":
                if row_id in ids_seen:
                    problems.append(_('"id" %(id)r repeats line %(line)s') % {"id": row_id, "line": ids_seen[row_id]})
                ids_seen.setdefault(row_id, number)
        topic = None
        if category is not None and topic_name:
            topic = topics_by_name.get((category.pk, topic_name.casefold()))
            if topic is None:
                problems.append(_("unknown topic %(topic)r for category %(category)s")
                                % {"topic": topic_name, "category": category.key})
        if source not in sources:
            problems.append(_("unknown source %(value)r (one of %(choices)s)")
                            % {"value": source, "choices": ", ".join(sorted(sources))})
        if problems:
            report.errors.append((number, "; ".join(problems)))
            continue
        valid.append((number, {"text": text, "category": category, "topic": topic, "source": source}))

    seen_in_file: dict[str, int] = {}
    hashes = {text_hash(normalize_text(r["text"])) for _, r in valid}
    existing = set(Prompt.objects.filter(normalized_hash__in=hashes).values_list("normalized_hash", flat=True))
    for number, row in valid:
        normalized = normalize_text(row["text"])
        digest = text_hash(normalized)
        row["normalized"], row["normalized_hash"] = normalized, digest
        duplicate_of = None
        if digest in existing:
            duplicate_of = _("an existing prompt")
        elif digest in seen_in_file:
            duplicate_of = _("line %(line)s") % {"line": seen_in_file[digest]}
        seen_in_file.setdefault(digest, number)
        if duplicate_of:
            report.duplicates.append((number, duplicate_of))
            if not allow_duplicates:
                report.errors.append((number, _("duplicate of %(what)s") % {"what": duplicate_of}))
    report.errors.sort()
    if report.errors:
        return report
    dup_lines = {number for number, _what in report.duplicates}
    with transaction.atomic():
        Prompt.objects.bulk_create(
            [
                Prompt(author=author, duplicate_reason=_("bulk import, duplicate allowed") if n in dup_lines else "", **row)
                for n, row in valid
            ],
            batch_size=1000,
        )
    report.created = len(valid)
    return report
