"""Preference pairs, KTO rows, rating scores and SFT rows from annotations (PLLuM-Align §4.2, App. A.1).

Pure on purpose: no Django, no I/O except reading the reference file. The database glue adapts its rows to
the frozen dataclasses below, so every pairing rule can be tested with plain fixtures and replayed
exactly. All randomness comes from `item_rng(seed, ...)`, keyed by the item's id, so a pair set never
depends on the order in which items were read.

Output rows are plain dicts in TRL's conversational format: `prompt` is a list of messages ending with a
user message (multi-turn dialog context included), `chosen`/`rejected`/`completion` are a single assistant
message each. Metadata columns ride along; `exports.writers` fixes their types.
"""

from __future__ import annotations

import hashlib
import heapq
import random
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from functools import cache, lru_cache
from typing import Any

from core.reference import load_reference

# --------------------------------------------------------------------------------------------------------
# Reference facts (defaults come from the paper's machine-readable summary, never retyped here)
# --------------------------------------------------------------------------------------------------------


def default_rating_threshold() -> float:
    """Chosen-mean threshold of the rating pairs (paper: 4.5)."""
    return float(load_reference()["rating"]["chosen_mean_threshold"])


@cache
def criterion_keys() -> tuple[str, ...]:
    """The seven rating criteria, in the guideline's order (fixes the scores columns' order)."""
    return tuple(c["key"] for c in load_reference()["criteria"])


def default_sft_cap() -> int:
    """Per-source cap on converted instructions (PLLuMIC: "1,000 per source resource")."""
    text = load_reference()["other_seed_practices"]["converted_instruction_cap"]
    match = re.search(r"(\d[\d,\s]*\d|\d)\s+per source", text)
    if match is None:
        raise ValueError(f"cannot read the cap from {text!r}")
    return int(re.sub(r"[,\s]", "", match.group(1)))


def adapted_categories() -> tuple[str, ...]:
    """Categories converted from external datasets: the ones the PLLuMIC-style cap applies to."""
    return tuple(c["key"] for c in load_reference()["prompt_categories"] if c["origin"] == "adapted")


def default_eval_ratio() -> float:
    """The paper's eval share (5,493 of 55,119 pairs), rounded to two decimals: 0.1."""
    sizes = load_reference()["paper_dataset_sizes"]
    train, evaluation = sizes["full_preference_dataset_pairs_train"], sizes["eval_pairs"]
    return round(evaluation / (train + evaluation), 2)


# --------------------------------------------------------------------------------------------------------
# Strategies and merge rules
# --------------------------------------------------------------------------------------------------------


class RankingStrategy(StrEnum):
    BEST_VS_WORST = "ranking-best-vs-worst"  # paper default
    BEST_VS_RANDOM = "ranking-best-vs-random"
    BEST_VS_ALL = "ranking-best-vs-all"


class DialogStrategy(StrEnum):
    ALL_TURNS_ALL_PAIRS = "dialog-all-turns-all-pairs"  # paper's best
    ALL_TURNS_ONE_PAIR = "dialog-all-turns-one-pair"
    LAST_TURN_ALL_PAIRS = "dialog-last-turn-all-pairs"
    LAST_TURN_ONE_PAIR = "dialog-last-turn-one-pair"


RATING_STRATEGY = "rating"
CUSTOM_STRATEGY_SUFFIX = "+custom"


class RankingMerge(StrEnum):
    """How several annotators' rankings of one (gold) item become one order.

    BORDA: a response gets (n - 1 - position) points from each judgement; most points first; ties broken by
    more first places, then by the head-to-head majority, then by response id (deterministic).
    RANKED_PAIRS: Tideman's ranked pairs over the pairwise majorities (a Condorcet winner always wins);
    remaining ties fall back to the Borda order.
    """

    BORDA = "borda"
    RANKED_PAIRS = "ranked_pairs"


class RatingMerge(StrEnum):
    """How several annotators' ratings of one response become one score.

    Each annotator's score is the mean of the criteria they rated; MEAN averages those over annotators,
    MEDIAN takes their median (robust to one outlier on gold items).
    """

    MEAN = "mean"
    MEDIAN = "median"


class Hardness(StrEnum):
    HARD = "hard"  # incorrect or unsafe
    SOFT = "soft"  # acceptable but worse
    UNKNOWN = ""


# --------------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class Candidate:
    """A model response shown to annotators."""

    response_id: str
    text: str
    model: str = ""


@dataclass(frozen=True)
class RankingJudgement:
    """One annotator's ranking of one item.

    `order` lists response ids best -> worst. `custom_text` is set when the annotator wrote their own
    answer because all four were unacceptable. `hardness` maps response id -> "hard" | "soft" for rejects.
    """

    annotator: str
    order: tuple[str, ...]
    custom_text: str | None = None
    hardness: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RankingItem:
    item_id: str
    prompt_id: str
    prompt: tuple[Message, ...]
    candidates: tuple[Candidate, ...]
    judgements: tuple[RankingJudgement, ...]
    category: str = ""


@dataclass(frozen=True)
class CriterionRating:
    """One annotator's Likert scores (criterion key -> 1..5) for one response; skipped criteria absent."""

    annotator: str
    scores: Mapping[str, int]


@dataclass(frozen=True)
class RatedResponse:
    response_id: str
    text: str
    model: str = ""
    ratings: tuple[CriterionRating, ...] = ()


@dataclass(frozen=True)
class RatingItem:
    """A prompt with its two rated responses (from two distinct models)."""

    item_id: str
    prompt_id: str
    prompt: tuple[Message, ...]
    responses: tuple[RatedResponse, ...]
    category: str = ""


@dataclass(frozen=True)
class DialogTurn:
    """One turn: `context` is what the models saw (history + this turn's user message, last is "user").

    Exactly one of `chosen_id` (a candidate) and `custom_text` is expected; a turn with neither yields
    nothing. `display_order` is kept for provenance (position-bias analyses), not for pairing.
    """

    turn_id: str
    index: int
    context: tuple[Message, ...]
    candidates: tuple[Candidate, ...]
    chosen_id: str | None = None
    custom_text: str | None = None
    display_order: tuple[str, ...] = ()
    typology: str = ""


@dataclass(frozen=True)
class Dialog:
    dialog_id: str
    annotator: str
    turns: tuple[DialogTurn, ...]
    category: str = "dialog"


# --------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------


def item_rng(seed: int, *parts: str) -> random.Random:
    """A generator private to one item: string seeds are hashed with SHA-512, stable across processes."""
    return random.Random(":".join((str(seed), *parts)))


def normalize_prompt_text(text: str) -> str:
    """Key for "the same prompt": NFC, case-folded, whitespace collapsed (Polish diacritics kept)."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def group_id_for(messages: Sequence[Message]) -> str:
    """Split group: the first user message, normalized.

    Every turn of a dialog shares its opening message, and an identical prompt in rating and ranking (or
    imported twice) shares a key, so no prompt and no dialog can straddle train and eval.
    """
    return _group_of(next((m.content for m in messages if m.role == "user"), ""))


@lru_cache(maxsize=4096)  # an item's pairs, KTO and score rows all ask for the same prompt's group
def _group_of(first_user: str) -> str:
    digest = hashlib.sha256(normalize_prompt_text(first_user).encode("utf-8")).hexdigest()
    return "p:" + digest[:24]


def _messages(messages: Iterable[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _check_prompt(messages: Sequence[Message], where: str) -> None:
    if not messages or messages[-1].role != "user":
        raise ValueError(f"{where}: the prompt must end with a user message")


def _same_text(a: str, b: str) -> bool:
    """A copied-without-edit custom answer must not be paired against itself."""
    return a.strip() == b.strip()


def _custom_id(annotator: str) -> str:
    return f"custom:{annotator}"


def _pair_row(
    *,
    source_task: str,
    strategy: str,
    item_id: str,
    prompt_id: str,
    prompt: Sequence[Message],
    category: str,
    chosen_id: str,
    chosen_text: str,
    chosen_model: str,
    chosen_is_custom: bool,
    rejected_id: str,
    rejected_text: str,
    rejected_model: str,
    reject_hardness: str = "",
    annotators: Iterable[str] = (),
    chosen_score: float | None = None,
    rejected_score: float | None = None,
    dialog_id: str | None = None,
    turn_index: int | None = None,
) -> dict[str, Any]:
    turn = "" if turn_index is None else f"#{turn_index}"
    return {
        "pair_id": f"{source_task}:{item_id}{turn}:{chosen_id}>{rejected_id}",
        "group_id": group_id_for(prompt),
        "prompt": _messages(prompt),
        "chosen": _assistant(chosen_text),
        "rejected": _assistant(rejected_text),
        "source_task": source_task,
        "strategy": strategy,
        "category": category,
        "item_id": item_id,
        "prompt_id": prompt_id,
        "dialog_id": dialog_id,
        "turn_index": turn_index,
        "chosen_id": chosen_id,
        "rejected_id": rejected_id,
        "chosen_model": chosen_model,
        "rejected_model": rejected_model,
        "chosen_is_custom": chosen_is_custom,
        "reject_hardness": reject_hardness,
        "annotators": sorted(set(annotators)),
        "chosen_score": chosen_score,
        "rejected_score": rejected_score,
    }


# --------------------------------------------------------------------------------------------------------
# Ranking
# --------------------------------------------------------------------------------------------------------


def _pairwise_wins(judgements: Sequence[RankingJudgement], ids: Sequence[str]) -> dict[tuple[str, str], int]:
    wins = {(a, b): 0 for a in ids for b in ids if a != b}
    for judgement in judgements:
        position = {rid: i for i, rid in enumerate(judgement.order)}
        for a, b in wins:
            if a in position and b in position and position[a] < position[b]:
                wins[(a, b)] += 1
    return wins


def _borda_order(judgements: Sequence[RankingJudgement], ids: Sequence[str]) -> list[str]:
    points = dict.fromkeys(ids, 0)
    firsts = dict.fromkeys(ids, 0)
    for judgement in judgements:
        n = len(judgement.order)
        for position, rid in enumerate(judgement.order):
            if rid in points:
                points[rid] += n - 1 - position
        if judgement.order and judgement.order[0] in firsts:
            firsts[judgement.order[0]] += 1
    if len({(points[rid], firsts[rid]) for rid in ids}) == len(ids):  # no tie: head-to-head is not needed
        return sorted(ids, key=lambda rid: (-points[rid], -firsts[rid], rid))
    wins = _pairwise_wins(judgements, ids)

    # Head-to-head wins among candidates tied on (points, firsts) break the tie before the id does.
    def key(rid: str) -> tuple[int, int, int, str]:
        tied = [o for o in ids if o != rid and points[o] == points[rid] and firsts[o] == firsts[rid]]
        return (-points[rid], -firsts[rid], -sum(wins[(rid, o)] - wins[(o, rid)] for o in tied), rid)

    return sorted(ids, key=key)


def _ranked_pairs_order(judgements: Sequence[RankingJudgement], ids: Sequence[str]) -> list[str]:
    wins = _pairwise_wins(judgements, ids)
    borda_rank = {rid: i for i, rid in enumerate(_borda_order(judgements, ids))}
    majorities = [(a, b) for (a, b), w in wins.items() if w > wins[(b, a)]]
    # Strongest majority first; equal strengths in Borda order so the result is fully determined.
    majorities.sort(key=lambda ab: (-wins[ab], wins[(ab[1], ab[0])], borda_rank[ab[0]], borda_rank[ab[1]]))
    beats: dict[str, set[str]] = {rid: set() for rid in ids}

    def reaches(src: str, dst: str) -> bool:
        stack, seen = [src], set()
        while stack:
            node = stack.pop()
            if node == dst:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(beats[node])
        return False

    for a, b in majorities:
        if not reaches(b, a):
            beats[a].add(b)
    order: list[str] = []
    remaining = set(ids)
    while remaining:
        sources = [r for r in remaining if not any(r in beats[o] for o in remaining)]
        best = min(sources, key=borda_rank.__getitem__)
        order.append(best)
        remaining.remove(best)
    return order


def merge_rankings(
    judgements: Sequence[RankingJudgement], *, candidate_ids: Sequence[str], rule: RankingMerge
) -> list[str]:
    """One best -> worst order from one or more judgements (a single judgement is returned as ranked)."""
    known = [j for j in judgements if j.order]
    candidates = set(candidate_ids)
    if len(known) == 1:
        return [rid for rid in known[0].order if rid in candidates]
    ids = sorted({rid for j in known for rid in j.order if rid in candidates})
    if not ids:
        return []
    if RankingMerge(rule) is RankingMerge.RANKED_PAIRS:
        return _ranked_pairs_order(known, ids)
    return _borda_order(known, ids)


def merge_hardness(judgements: Sequence[RankingJudgement], response_id: str) -> str:
    """A reject is hard if any annotator called it hard: one vote for "incorrect or unsafe" is enough."""
    votes = {j.hardness.get(response_id, "") for j in judgements}
    if Hardness.HARD in votes:
        return Hardness.HARD.value
    if Hardness.SOFT in votes:
        return Hardness.SOFT.value
    return Hardness.UNKNOWN.value


def pairs_from_ranking(
    item: RankingItem,
    *,
    strategy: RankingStrategy | str = RankingStrategy.BEST_VS_WORST,
    seed: int = 0,
    merge: RankingMerge | str = RankingMerge.BORDA,
) -> list[dict[str, Any]]:
    """Pairs of one ranking item.

    Custom answers win outright: each distinct custom answer is chosen against every model answer (the
    annotator judged all four unacceptable), whatever the strategy. Otherwise the (merged) ranking gives
    rank 1 vs rank 4 (best-vs-worst), vs one random lower rank (best-vs-random) or vs each lower rank
    (best-vs-all: 3 pairs for 4 responses).
    """
    strategy = RankingStrategy(strategy)
    _check_prompt(item.prompt, f"ranking item {item.item_id}")
    by_id = {c.response_id: c for c in item.candidates}
    annotators = [j.annotator for j in item.judgements]
    common = {
        "source_task": "ranking",
        "item_id": item.item_id,
        "prompt_id": item.prompt_id,
        "prompt": item.prompt,
        "category": item.category,
        "annotators": annotators,
    }
    customs = sorted(
        {(j.custom_text, j.annotator) for j in item.judgements if j.custom_text and j.custom_text.strip()},
        key=lambda ta: ta[1],
    )
    if customs:
        rows = []
        for text, annotator in customs:
            for candidate in sorted(item.candidates, key=lambda c: c.response_id):
                if _same_text(text, candidate.text):
                    continue
                rows.append(
                    _pair_row(
                        **common,
                        strategy=strategy.value + CUSTOM_STRATEGY_SUFFIX,
                        chosen_id=_custom_id(annotator),
                        chosen_text=text,
                        chosen_model="",
                        chosen_is_custom=True,
                        rejected_id=candidate.response_id,
                        rejected_text=candidate.text,
                        rejected_model=candidate.model,
                        reject_hardness=merge_hardness(item.judgements, candidate.response_id),
                    )
                )
        return rows

    order = merge_rankings(item.judgements, candidate_ids=list(by_id), rule=RankingMerge(merge))
    if len(order) < 2:
        return []
    best, lower = order[0], order[1:]
    if strategy is RankingStrategy.BEST_VS_WORST:
        rejected = [lower[-1]]
    elif strategy is RankingStrategy.BEST_VS_RANDOM:
        rejected = [item_rng(seed, "ranking", item.item_id).choice(lower)]
    else:
        rejected = lower
    chosen = by_id[best]
    return [
        _pair_row(
            **common,
            strategy=strategy.value,
            chosen_id=chosen.response_id,
            chosen_text=chosen.text,
            chosen_model=chosen.model,
            chosen_is_custom=False,
            rejected_id=rid,
            rejected_text=by_id[rid].text,
            rejected_model=by_id[rid].model,
            reject_hardness=merge_hardness(item.judgements, rid),
        )
        for rid in rejected
        if not _same_text(chosen.text, by_id[rid].text)
    ]


# --------------------------------------------------------------------------------------------------------
# Rating
# --------------------------------------------------------------------------------------------------------


def response_score(
    response: RatedResponse, *, merge: RatingMerge | str = RatingMerge.MEAN
) -> Fraction | None:
    """Merged mean rating of one response, exact (Fractions: 4.5 vs 4.4999… and ties are decided exactly).

    Each annotator's score is the mean of the criteria they rated; MEAN averages those, MEDIAN takes
    their median.
    """
    sums = [(sum(r.scores.values()), len(r.scores)) for r in response.ratings if r.scores]
    if not sums:
        return None
    if merge == RatingMerge.MEAN and len({n for _, n in sums}) == 1:
        # Everyone rated the same number of criteria (the usual case): one exact division.
        return Fraction(sum(total for total, _ in sums), sums[0][1] * len(sums))
    per_annotator = sorted(Fraction(total, n) for total, n in sums)
    if RatingMerge(merge) is RatingMerge.MEDIAN:
        mid = len(per_annotator) // 2
        if len(per_annotator) % 2:
            return per_annotator[mid]
        return (per_annotator[mid - 1] + per_annotator[mid]) / 2
    return sum(per_annotator, Fraction(0)) / len(per_annotator)


def criterion_means(response: RatedResponse) -> dict[str, float | None]:
    """Mean score per criterion over annotators (None where nobody scored it): reward-model targets."""
    out: dict[str, float | None] = {}
    for key in criterion_keys():
        values = [r.scores[key] for r in response.ratings if key in r.scores]
        out[key] = sum(values) / len(values) if values else None  # int / int is correctly rounded
    return out


@lru_cache(maxsize=64)
def _exact(threshold: float) -> Fraction:
    """A threshold as the exact decimal it was written as (4.5, not the nearest binary float)."""
    return Fraction(str(threshold))


def pairs_from_rating(
    item: RatingItem,
    *,
    threshold: float | None = None,
    merge: RatingMerge | str = RatingMerge.MEAN,
) -> list[dict[str, Any]]:
    """At most one pair: the higher mean is chosen; no pair on equal means or a chosen mean < threshold.

    The threshold defaults to the paper's 4.5 and is compared exactly (its decimal text, not its float).
    """
    _check_prompt(item.prompt, f"rating item {item.item_id}")
    limit = _exact(default_rating_threshold() if threshold is None else threshold)
    scored = [(response_score(r, merge=merge), r) for r in item.responses]
    scored = [(s, r) for s, r in scored if s is not None]
    if len(scored) < 2:
        return []
    scored.sort(key=lambda sr: (-sr[0], sr[1].response_id))
    (best_score, best), (worst_score, worst) = scored[0], scored[-1]
    if best_score == worst_score or best_score < limit or _same_text(best.text, worst.text):
        return []
    annotators = [r.annotator for resp in item.responses for r in resp.ratings]
    return [
        _pair_row(
            source_task="rating",
            strategy=RATING_STRATEGY,
            item_id=item.item_id,
            prompt_id=item.prompt_id,
            prompt=item.prompt,
            category=item.category,
            chosen_id=best.response_id,
            chosen_text=best.text,
            chosen_model=best.model,
            chosen_is_custom=False,
            rejected_id=worst.response_id,
            rejected_text=worst.text,
            rejected_model=worst.model,
            annotators=annotators,
            chosen_score=float(best_score),
            rejected_score=float(worst_score),
        )
    ]


def rating_score_rows(
    item: RatingItem, *, merge: RatingMerge | str = RatingMerge.MEAN
) -> list[dict[str, Any]]:
    """One row per rated response with per-criterion means (multi-attribute reward models)."""
    _check_prompt(item.prompt, f"rating item {item.item_id}")
    rows = []
    for response in sorted(item.responses, key=lambda r: r.response_id):
        overall = response_score(response, merge=merge)
        if overall is None:
            continue
        rows.append(
            {
                "score_id": f"rating:{item.item_id}:{response.response_id}",
                "group_id": group_id_for(item.prompt),
                "prompt": _messages(item.prompt),
                "completion": _assistant(response.text),
                "item_id": item.item_id,
                "prompt_id": item.prompt_id,
                "response_id": response.response_id,
                "model": response.model,
                "category": item.category,
                "scores": criterion_means(response),
                "overall": float(overall),
                "annotators": sorted({r.annotator for r in response.ratings}),
                "n_ratings": len(response.ratings),
            }
        )
    return rows


# --------------------------------------------------------------------------------------------------------
# Dialogs
# --------------------------------------------------------------------------------------------------------


def _turn_pairs(dialog: Dialog, turn: DialogTurn, strategy: DialogStrategy) -> list[dict[str, Any]]:
    _check_prompt(turn.context, f"dialog {dialog.dialog_id} turn {turn.index}")
    common = {
        "source_task": "dialog",
        "item_id": dialog.dialog_id,
        "prompt_id": turn.turn_id,
        "prompt": turn.context,
        "category": dialog.category,
        "annotators": [dialog.annotator],
        "dialog_id": dialog.dialog_id,
        "turn_index": turn.index,
    }
    candidates = sorted(turn.candidates, key=lambda c: c.response_id)
    if turn.custom_text and turn.custom_text.strip():
        chosen_id, chosen_text, chosen_model, is_custom = (
            _custom_id(dialog.annotator),
            turn.custom_text,
            "",
            True,
        )
        rejected = candidates
        label = strategy.value + CUSTOM_STRATEGY_SUFFIX
    elif turn.chosen_id is not None:
        chosen = next((c for c in candidates if c.response_id == turn.chosen_id), None)
        if chosen is None:
            raise ValueError(f"dialog {dialog.dialog_id} turn {turn.index}: chosen id not among candidates")
        chosen_id, chosen_text, chosen_model, is_custom = chosen.response_id, chosen.text, chosen.model, False
        rejected = [c for c in candidates if c.response_id != turn.chosen_id]
        label = strategy.value
    else:
        return []
    return [
        _pair_row(
            **common,
            strategy=label,
            chosen_id=chosen_id,
            chosen_text=chosen_text,
            chosen_model=chosen_model,
            chosen_is_custom=is_custom,
            rejected_id=c.response_id,
            rejected_text=c.text,
            rejected_model=c.model,
        )
        for c in rejected
        if not _same_text(chosen_text, c.text)
    ]


def pairs_from_dialog(
    dialog: Dialog,
    *,
    strategy: DialogStrategy | str = DialogStrategy.ALL_TURNS_ALL_PAIRS,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Pairs of one dialog: chosen (or custom) vs each other candidate, per turn or for the last turn only.

    With 3 candidates a turn gives 2 pairs (3 with a custom answer), so a 5-turn dialog gives 10 pairs with
    all-turns-all-pairs; the one-pair variants keep one random pair per used turn.
    """
    strategy = DialogStrategy(strategy)
    turns = sorted(dialog.turns, key=lambda t: t.index)
    if strategy in (DialogStrategy.LAST_TURN_ALL_PAIRS, DialogStrategy.LAST_TURN_ONE_PAIR):
        turns = turns[-1:]
    one_pair = strategy in (DialogStrategy.ALL_TURNS_ONE_PAIR, DialogStrategy.LAST_TURN_ONE_PAIR)
    rows: list[dict[str, Any]] = []
    for turn in turns:
        pairs = _turn_pairs(dialog, turn, strategy)
        if one_pair and pairs:
            pairs = [item_rng(seed, "dialog", dialog.dialog_id, str(turn.index)).choice(pairs)]
        rows.extend(pairs)
    return rows


# --------------------------------------------------------------------------------------------------------
# KTO and SFT
# --------------------------------------------------------------------------------------------------------

_CARRIED = (
    "group_id",
    "source_task",
    "strategy",
    "category",
    "item_id",
    "prompt_id",
    "dialog_id",
    "turn_index",
    "annotators",
)


def kto_rows_from_pairs(pairs: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """Unpaired KTO rows: every chosen answer desirable, every rejected one undesirable, each once.

    A response chosen three times by best-vs-all is still one row. Duplicates are only looked for among
    consecutive pairs of the same item and turn (pair builders emit an item's pairs together), which keeps
    memory flat on million-row exports.
    """
    current: tuple[Any, ...] | None = None
    seen: set[tuple[str, bool]] = set()
    for pair in pairs:
        key = (pair["source_task"], pair["item_id"], pair["turn_index"])
        if key != current:
            current, seen = key, set()
        for side, label in (("chosen", True), ("rejected", False)):
            response_id = pair[f"{side}_id"]
            if (response_id, label) in seen:
                continue
            seen.add((response_id, label))
            turn = "" if pair["turn_index"] is None else f"#{pair['turn_index']}"
            yield {
                "kto_id": f"{pair['source_task']}:{pair['item_id']}{turn}:{response_id}",
                "prompt": pair["prompt"],
                "completion": pair[side],
                "label": label,
                "response_id": response_id,
                "model": pair[f"{side}_model"],
                "is_custom": bool(pair["chosen_is_custom"]) if label else False,
                "reject_hardness": "" if label else pair["reject_hardness"],
                **{k: pair[k] for k in _CARRIED},
            }


def _sft_row(pair: Mapping[str, Any]) -> dict[str, Any]:
    turn = "" if pair["turn_index"] is None else f"#{pair['turn_index']}"
    return {
        "sft_id": f"{pair['source_task']}:{pair['item_id']}{turn}:{pair['chosen_id']}",
        "messages": [*pair["prompt"], *pair["chosen"]],
        "response_id": pair["chosen_id"],
        "model": pair["chosen_model"],
        "is_custom": bool(pair["chosen_is_custom"]),
        **{k: pair[k] for k in _CARRIED},
    }


def sft_rows_from_pairs(pairs: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """SFT conversations (`messages`) from chosen and custom answers, each answer once.

    A dialog gives one conversation, ending with its last paired turn: every earlier turn's context already
    holds the chosen or custom answers, so per-turn rows would only repeat prefixes. Like the KTO rows this
    relies on an item's pairs arriving together.
    """
    current: tuple[Any, ...] | None = None
    seen: set[str] = set()
    pending_dialog: dict[str, Any] | None = None
    for pair in pairs:
        if pair["dialog_id"] is not None:
            if pending_dialog is not None and pending_dialog["dialog_id"] != pair["dialog_id"]:
                yield pending_dialog
                pending_dialog = None
            if pending_dialog is None or pair["turn_index"] > pending_dialog["turn_index"]:
                pending_dialog = _sft_row(pair)
            continue
        if pending_dialog is not None:
            yield pending_dialog
            pending_dialog = None
        key = (pair["source_task"], pair["item_id"])
        if key != current:
            current, seen = key, set()
        if pair["chosen_id"] in seen:
            continue
        seen.add(pair["chosen_id"])
        yield _sft_row(pair)
    if pending_dialog is not None:
        yield pending_dialog


class SourceCap:
    """Keep at most `cap` rows per capped source (PLLuMIC: 1,000 per converted source).

    Push-style so one pass over the annotations can feed several outputs. Rows of other sources pass
    straight through `push`. For a capped source the kept rows are the `cap` with the smallest hash of
    (seed, id), so the choice does not depend on row order; `finish` emits them in that hash order.
    Memory is bounded by cap x number of capped sources.
    """

    def __init__(
        self,
        *,
        cap: int | None,
        capped_sources: Iterable[str],
        seed: int,
        id_key: str = "sft_id",
        source_key: str = "category",
    ) -> None:
        self.cap = cap
        self.capped = frozenset(capped_sources)
        self.seed = seed
        self.id_key = id_key
        self.source_key = source_key
        self._heaps: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}

    def push(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        source = row[self.source_key]
        if self.cap is None or source not in self.capped:
            return [row]
        digest = hashlib.sha256(f"{self.seed}:{row[self.id_key]}".encode()).digest()
        entry = (-int.from_bytes(digest[:8], "big"), row[self.id_key], row)
        heap = self._heaps.setdefault(source, [])  # max-heap on the hash: the worst kept row is heap[0]
        if len(heap) < self.cap:
            heapq.heappush(heap, entry)
        elif entry[:2] > heap[0][:2]:
            heapq.heapreplace(heap, entry)
        return []

    def finish(self) -> list[dict[str, Any]]:
        out = []
        for source in sorted(self._heaps):
            out.extend(row for _, _, row in sorted(self._heaps[source], key=lambda e: (-e[0], e[1])))
        self._heaps = {}
        return out


def cap_per_source(
    rows: Iterable[dict[str, Any]],
    *,
    cap: int | None,
    capped_sources: Iterable[str],
    seed: int,
    id_key: str = "sft_id",
    source_key: str = "category",
) -> Iterator[dict[str, Any]]:
    """Generator form of `SourceCap`."""
    capper = SourceCap(
        cap=cap, capped_sources=capped_sources, seed=seed, id_key=id_key, source_key=source_key
    )
    for row in rows:
        yield from capper.push(row)
    yield from capper.finish()
