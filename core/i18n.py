"""Content in two languages: rows keep their Polish and English text side by side (`name_pl`, `name_en`…),
and pages show the active language's text.

Chrome (labels, buttons) goes through gettext; content (category names, topics, criterion guidelines,
red-team templates) is data that admins edit, so it cannot live in the message catalogue.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import get_language

CONTENT_LANGUAGES = ("pl", "en")


def content_language(language: str | None = None) -> str:
    """"pl" or "en": the active language (or ``language``) reduced to one the content is kept in."""
    code = (language or get_language() or settings.LANGUAGE_CODE or "pl").lower()
    return next((lang for lang in CONTENT_LANGUAGES if code.startswith(lang)), "en")


def pick(values: dict[str, str], language: str | None = None) -> str:
    """The text in ``language`` (default: active), or the other language's when that one is empty."""
    lang = content_language(language)
    return values.get(lang) or next((values[other] for other in CONTENT_LANGUAGES if values.get(other)), "")


class Translated:
    """A model attribute that reads `<name>_pl` / `<name>_en` in the active language.

        class Category(models.Model):
            name_en = models.CharField(...)
            name_pl = models.CharField(...)
            name = Translated()

    `category.name` is then the Polish name under the Polish UI (the English one when the Polish is empty,
    and the other way round), so templates write `{{ category.name }}`. Queries use the real fields.
    """

    def __set_name__(self, owner, attr: str) -> None:
        self.field = attr

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return pick({lang: getattr(obj, f"{self.field}_{lang}") for lang in CONTENT_LANGUAGES})
