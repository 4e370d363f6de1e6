"""Text normalisation for duplicate detection: case, whitespace, punctuation and Polish diacritics."""

import hashlib
import re
import unicodedata

from rapidfuzz import fuzz, process

# ł/Ł do not decompose under NFKD, so they are folded explicitly.
_EXTRA_FOLD = str.maketrans({"ł": "l", "Ł": "l", "ß": "ss", "đ": "d", "ø": "o"})
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize_text(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_EXTRA_FOLD).casefold())
    stripped = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", stripped).strip()


def text_hash(normalized: str) -> str:
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def similar(normalized: str, candidates: dict[int, str], *, threshold: float = 85.0, limit: int = 5):
    """Near duplicates among `candidates` ({id: normalized text}) as [(id, score 0-100)], best first."""
    matches = process.extract(
        normalized, candidates, scorer=fuzz.token_sort_ratio, score_cutoff=threshold, limit=limit
    )
    return [(key, round(score, 1)) for _, score, key in matches]
