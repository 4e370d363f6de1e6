"""Reads for quality assurance: annotation records as plain tuples for `qa.stats`, review queues, review
state for the exports, feedback for the annotator's home page, coverage.

Everything the dashboard needs is fetched with `values_list(...)` (one query per record type, streamed
with `.iterator()`), never by walking relations row by row, so it stays a handful of queries at 100k
annotations.

Public API used by other parts of the product:

* ``review_state(target_kind, target_ids) -> {target_id: latest Review}`` — the latest QA decision per
  reviewed object. ``target_kind`` is a ``qa.models.ReviewTarget`` value: ``ranking`` (Ranking id: its
  custom answer), ``dialog_turn`` (DialogTurn id: its custom answer), ``rating_pair`` (``annotation``'s
  RatingPair id: the winning response of its two rating tasks), ``dialog`` (Dialog id). Objects without a
  review are absent.
* ``effective_custom_text(target_kind, target_ids) -> {target_id: str | None}`` — for ``ranking`` and
  ``dialog_turn``: the custom answer an export must use. The annotator's text when not reviewed or
  approved, the QA lead's text after an *edit*, ``None`` after a *reject* (leave the custom answer out).
  For ``rating_pair`` the winning response's text, edited or ``None`` when rejected (drop the pair);
  for ``dialog`` ``None`` when the dialog was rejected, "" otherwise. Ids that do not exist are absent.
* ``is_rejected(target_kind, target_ids) -> set[int]`` — the ids whose latest decision is *reject*.
* ``feedback_for(user, limit=20) -> list[Feedback]`` — the newest feedback sent to ``user`` (unread first
  is up to the caller; each has ``read_at``), with ``from_user`` / ``task`` / ``dialog`` loaded;
  ``feedback_unread(user) -> int`` — how many of them are unread.
"""


from .coverage import CategoryCoverage, Coverage, TopicCoverage, coverage
from .feedback import feedback_for, feedback_sent, feedback_unread
from .gold import gold_candidates, gold_tasks, task_responses
from .records import (
    TASK_TYPES,
    DialogRecords,
    Filters,
    RankingRecords,
    RatingRecords,
    annotator_choices,
    criteria,
    dialog_records,
    gold_references,
    ranking_records,
    rating_records,
    usernames,
)
from .reviews import (
    REVIEW_STATUSES,
    RatingPairRow,
    ReviewEntry,
    ReviewItem,
    ScoredRatingPair,
    all_rating_pairs,
    custom_ranking_queue,
    custom_turn_queue,
    dialog_queue,
    effective_custom_text,
    is_rejected,
    original_texts,
    queue_counts,
    rating_pair_queue,
    rating_pair_tasks,
    rating_pairs,
    review_history,
    review_item,
    review_state,
    text_diff,
)

__all__ = [
    "TASK_TYPES", "REVIEW_STATUSES", "CategoryCoverage", "Coverage", "DialogRecords", "Filters", "RankingRecords",
    "RatingPairRow", "RatingRecords", "ReviewEntry", "ReviewItem", "ScoredRatingPair", "TopicCoverage",
    "all_rating_pairs", "annotator_choices", "coverage", "criteria", "custom_ranking_queue", "custom_turn_queue", "dialog_queue",
    "dialog_records", "effective_custom_text", "feedback_for", "feedback_sent", "feedback_unread", "gold_candidates",
    "gold_references", "gold_tasks", "is_rejected", "original_texts", "queue_counts", "ranking_records",
    "rating_pair_queue", "rating_pair_tasks", "rating_pairs", "rating_records", "review_history", "review_item",
    "review_state", "task_responses", "text_diff", "usernames",
]
