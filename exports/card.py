"""The dataset card's prose in the export's `language` (Polish for "pl", English otherwise).

Kept as data beside the writers rather than in the gettext catalogue: an export is byte-reproducible, so its
card must not depend on which catalogue a worker happened to compile, nor on the language of the request that
queued it. Category names come from prompts.content (the reference file and prompts/taxonomy_pl.json).
Pure Python (no Django).
"""

from __future__ import annotations

from prompts import content

CARD_LANGUAGES = ("pl", "en")

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Preference Studio preference dataset",
        "intro": (
            "Human preference data built along the PLLuM-Align workflow (rating, ranking and live dialogs),\n"
            "in TRL's conversational format: `prompt` is a list of messages (dialog context included),\n"
            "`chosen`/`rejected`/`completion` a single assistant message. KTO rows carry a boolean `label`,\n"
            "SFT rows a `messages` list, `scores.jsonl` per-criterion mean ratings per response."
        ),
        "counts": "## Counts (shape of the paper's Table 1)",
        "files": "## Files",
        "split": (
            "The train/eval split is grouped by prompt (normalized first user message), so a prompt or a\n"
            "dialog never appears on both sides. `manifest.json` lists every file with its SHA-256."
        ),
        "file_table": "| File | Rows |",
        "parameters": "## Parameters",
        "code_version": "Code version: `{version}`",
        "groups": "Prompt groups: {train} in train, {eval} in eval.",
        "moved": "One group (`{group}`) was moved from {source} to {target} so that neither split is empty.",
        "table1_header": "| Prompt type | Rating #prompts | Rating #pairs | Ranking #prompts | Ranking #pairs |",
        "original": "Original prompts",
        "adapted": "Adapted prompts",
        "other": "Other categories",
        "total": "Total",
        "dialog_header": "| Multi-turn dialogs | #dialogs | #turns | #pairs | mean #turns |",
        "dialogs": "Dialogs",
        "selection": "## Selection and QA review",
        "review_rule": "Review rule (`review_status` = `{status}`): {rule}",
        "rule_approved": (
            "Items that go through a QA review queue (custom answers in rankings and dialogs, dialogs, rating "
            "pairs whose winning mean is below 4.5 or tied) are exported only when their latest review is "
            "*approve* or *edit*; an edit exports the QA lead's text. Other items are not held back by review."
        ),
        "rule_not_rejected": (
            "Items whose latest QA review is *reject* are left out; unreviewed items are kept; an edit exports "
            "the QA lead's text."
        ),
        "rule_all": "QA reviews are ignored: the annotations are exported as the annotators left them.",
        "held_back_rules": (
            "A ranking judgement whose custom answer is held back keeps its order, unless all four responses were "
            "marked unacceptable (then it is dropped). A dialog is cut before its first turn whose answer is held "
            "back or undecided. Model answers that repeat their pre-prompt's instruction are held back whatever the "
            "review rule (the other responses of their ranking keep their order). A rating pair is exported once each "
            "response has its required ratings (the task's overlap; gold items: their reference scores), else it "
            "is held back as incomplete. Rating skips are never exported. "
            "Annotators appear as pseudonymous ids (`a<n>`)."
        ),
        "read_table": "| Read | Items |",
        "held_back_table": "| Held back | Count |",
    },
    "pl": {
        "title": "Zbiór danych preferencyjnych z Preference Studio",
        "intro": (
            "Dane o preferencjach ludzi zebrane według procedury PLLuM-Align (ocenianie, ranking i dialogi na żywo),\n"
            "w formacie konwersacyjnym TRL: `prompt` to lista wiadomości (z kontekstem dialogu),\n"
            "`chosen`/`rejected`/`completion` to jedna wiadomość asystenta. Wiersze KTO mają pole logiczne `label`,\n"
            "wiersze SFT listę `messages`, a `scores.jsonl` średnie oceny każdej odpowiedzi według kryteriów."
        ),
        "counts": "## Liczebności (w układzie tabeli 1 z artykułu)",
        "files": "## Pliki",
        "split": (
            "Podział na część treningową i ewaluacyjną jest grupowany według promptu (znormalizowanej pierwszej\n"
            "wiadomości użytkownika), więc żaden prompt ani dialog nie trafia do obu części. `manifest.json`\n"
            "wymienia wszystkie pliki z ich sumami SHA-256."
        ),
        "file_table": "| Plik | Wiersze |",
        "parameters": "## Parametry",
        "code_version": "Wersja kodu: `{version}`",
        "groups": "Grupy promptów: {train} w części treningowej (train), {eval} w ewaluacyjnej (eval).",
        "moved": "Jedną grupę (`{group}`) przeniesiono z {source} do {target}, aby żadna część nie była pusta.",
        "table1_header": "| Typ promptu | Ocenianie: #promptów | Ocenianie: #par | Ranking: #promptów | Ranking: #par |",
        "original": "Prompty oryginalne",
        "adapted": "Prompty zaadaptowane",
        "other": "Inne kategorie",
        "total": "Razem",
        "dialog_header": "| Dialogi wieloturowe | #dialogów | #tur | #par | średnio #tur |",
        "dialogs": "Dialogi",
        "selection": "## Wybór danych i przegląd QA",
        "review_rule": "Reguła przeglądu (`review_status` = `{status}`): {rule}",
        "rule_approved": (
            "Elementy, które przechodzą przez kolejkę przeglądu QA (własne odpowiedzi w rankingach i dialogach, "
            "dialogi, pary ocen ze średnią zwycięzcy poniżej 4,5 lub remisem), trafiają do eksportu tylko wtedy, "
            "gdy ich ostatni przegląd to *akceptacja* lub *edycja*; po edycji eksportowany jest tekst lidera QA. "
            "Pozostałe elementy nie są wstrzymywane przez przegląd."
        ),
        "rule_not_rejected": (
            "Elementy, których ostatni przegląd QA to *odrzucenie*, są pomijane; elementy nieprzejrzane zostają; "
            "po edycji eksportowany jest tekst lidera QA."
        ),
        "rule_all": "Przeglądy QA są pomijane: adnotacje trafiają do eksportu w postaci, w jakiej zostawili je anotatorzy.",
        "held_back_rules": (
            "Ranking, którego własna odpowiedź jest wstrzymana, zachowuje kolejność, chyba że wszystkie cztery "
            "odpowiedzi oznaczono jako nie do przyjęcia (wtedy jest pomijany). Dialog jest ucinany przed pierwszą "
            "turą, której odpowiedź jest wstrzymana lub nierozstrzygnięta. Odpowiedzi modeli powtarzające polecenie "
            "swojego pre-promptu są wstrzymywane niezależnie od reguły przeglądu (pozostałe odpowiedzi ich rankingu "
            "zachowują kolejność). Para ocen trafia do eksportu, gdy każda odpowiedź ma wymaganą liczbę ocen (nakładkę "
            "zadania; elementy wzorcowe: oceny referencyjne), inaczej jest wstrzymana jako niekompletna. Pominięte "
            "oceny nigdy nie są eksportowane. Anotatorzy występują pod "
            "pseudonimowymi identyfikatorami (`a<n>`)."
        ),
        "read_table": "| Odczytane | Elementy |",
        "held_back_table": "| Wstrzymane | Liczba |",
    },
}


def card_language(language: str) -> str:
    """"pl" for any Polish code, else "en" (the card's prose exists in these two)."""
    return "pl" if (language or "").lower().startswith("pl") else "en"


def text(language: str) -> dict[str, str]:
    return TEXT[card_language(language)]


def category_names(language: str) -> dict[str, str]:
    return content.category_names(card_language(language))
