"""Post-processing of model output: strip leaked special tokens, repeated blocks and runaway loops; flag answers
that echo their pre-prompt.

The paper (A.7): "outputs were post-processed: for example, unnecessary or repetitive substrings were
removed". We keep the raw text on the generation and store this cleaned version next to it.

Small models often copy the pre-prompt's instruction into the answer ("Odpowiadaj jak osoba, która nie umie
ułożyć swoich myśli…" inside an answer to rank). Such an answer says nothing about the flaw the pre-prompt
asked for, so `echoes_preprompt` flags it and the flag keeps it out of annotation tasks and exports.
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from core.text import normalize_text

# Chat-template tokens that small or misconfigured models sometimes print verbatim.
_SPECIAL_TOKENS = re.compile(
    r"<\|(?:im_start|im_end|endoftext|eot_id|end_of_text|start_header_id|end_header_id)\|>"
    r"|<(?:end_of_turn|start_of_turn|eos|bos|/s|s)>"
    r"|\[/?INST\]"
)
# Control characters other than tab and newline (random or broken models emit NUL and friends).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAX_PERIOD = 400  # longest repeating unit we look for (characters)
MIN_REPEATS = 3  # a unit seen this many times in a row at the end is a loop
MIN_LOOP_CHARS = 40  # …and the repeated region must be at least this long (keeps "!!!" and "ha ha ha")
MIN_DUP_LINE = 12  # consecutive identical lines/paragraphs shorter than this are left alone (rules, "---")


def _tail_run(text: str, period: int) -> int:
    """How many characters at the end of `text` equal the character `period` places before them."""
    n = len(text)
    k = n - 1
    while k >= period and text[k] == text[k - period]:
        k -= 1
    return n - 1 - k


def strip_runaway_loop(text: str) -> str:
    """Cut a repetition that runs to the end of the text (a model stuck until max_tokens), keeping one unit.

    The text may end in the middle of a unit (cut by the token limit); that partial unit goes too.
    """
    n = len(text)
    best_start = None
    best_span = 0
    for period in range(1, min(MAX_PERIOD, n // MIN_REPEATS) + 1):
        run = _tail_run(text, period)
        span = run + period  # characters covered by the periodic tail, first unit included
        if span < period * MIN_REPEATS or span < MIN_LOOP_CHARS:
            continue
        if span > best_span:
            best_span = span
            best_start = (n - span, period)
    if best_start is None:
        return text
    start, period = best_start
    return text[: _boundary(text, start + period, period)].rstrip()


def _boundary(text: str, cut: int, period: int) -> int:
    """Move the cut forward (less than one unit) to the end of a sentence, else of a word.

    The periodic tail can begin mid-word (its first characters match the text before the loop), so the
    first full unit is a rotation of the loop; finishing it at a boundary reads naturally.
    """
    end = min(len(text), cut + period)
    for index in range(cut, end):
        if text[index].isspace() and text[index - 1] in ".!?:;":
            return index
    for index in range(cut, end):
        if text[index].isspace():
            return index
    return cut


def _collapse_consecutive(blocks: list[str]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        key = block.strip()
        if out and len(key) >= MIN_DUP_LINE and key == out[-1].strip():
            continue
        out.append(block)
    return out


def collapse_repeated_blocks(text: str) -> str:
    """Drop paragraphs and lines that merely repeat the one right before them."""
    paragraphs = _collapse_consecutive(re.split(r"\n{2,}", text))
    cleaned = []
    for paragraph in paragraphs:
        cleaned.append("\n".join(_collapse_consecutive(paragraph.split("\n"))))
    return "\n\n".join(cleaned)


def postprocess(text: str) -> str:
    """The text annotators see: special tokens removed, repeated blocks and a runaway tail collapsed."""
    cleaned = _SPECIAL_TOKENS.sub("", text.replace("\r\n", "\n"))
    cleaned = _CONTROL.sub("", cleaned)
    cleaned = re.sub(r"[ \t]+\n", "\n", cleaned)
    cleaned = collapse_repeated_blocks(cleaned)
    cleaned = strip_runaway_loop(cleaned.rstrip())
    cleaned = collapse_repeated_blocks(cleaned)
    return cleaned.strip()


# Echo detection. Both texts are normalised first (case, punctuation, spacing and Polish diacritics folded), so a
# re-cased or re-punctuated copy still counts. A probe (the whole pre-prompt, or one of its sentences of at least
# ECHO_MIN_SENTENCE_CHARS normalised characters) is scored with `fuzz.partial_ratio` against the answer's
# best-matching window of the probe's length: 90 tolerates a few changed characters in 40 (a typo, another word
# ending, a cut) but not a paraphrase, and a 40-character sentence is long enough not to occur by chance.
ECHO_THRESHOLD = 90.0
ECHO_MIN_SENTENCE_CHARS = 40
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+|\n+")


def _echo_probes(preprompt: str) -> list[str]:
    whole = normalize_text(preprompt)
    sentences = (normalize_text(part) for part in _SENTENCE_END.split(preprompt))
    probes = [whole] + [s for s in sentences if len(s) >= ECHO_MIN_SENTENCE_CHARS and s != whole]
    return [p for p in probes if p]


def echoes_preprompt(answer: str, preprompt: str, *, threshold: float = ECHO_THRESHOLD) -> bool:
    """Whether `answer` repeats `preprompt` (all of it, or one of its longer sentences), nearly verbatim.

    An empty pre-prompt ("none") never matches. When the answer is shorter than a probe, partial_ratio looks for
    the answer inside the probe instead: that counts only for an answer of at least ECHO_MIN_SENTENCE_CHARS
    (a pre-prompt cut off by the token limit), never for a short answer that shares a few words.
    """
    if not preprompt.strip():
        return False
    text = normalize_text(answer)
    if not text:
        return False
    return any(
        min(len(probe), len(text)) >= min(len(probe), ECHO_MIN_SENTENCE_CHARS)
        and fuzz.partial_ratio(probe, text, score_cutoff=threshold)
        for probe in _echo_probes(preprompt)
    )
