"""`{% likert_legend as legend %}`: the 1–5 scale's labels in the active language (see prompts.content)."""

from django import template

from core.i18n import content_language
from prompts import content

register = template.Library()


@register.simple_tag
def likert_legend() -> list[tuple[int, str]]:
    return content.likert_legend(content_language())
