"""Pre-prompts: editing creates a new immutable version; generations keep the version they used."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from ..models import PrePrompt, PrePromptVersion


@transaction.atomic
def preprompt_edit(*, preprompt: PrePrompt, text: str, name: str | None = None,
                   placement: str | None = None) -> PrePromptVersion:
    """Save `text` as the next version (no new version when the text is unchanged)."""
    locked = PrePrompt.objects.select_for_update().get(pk=preprompt.pk)
    changed = []
    if name is not None and name != locked.name:
        locked.name = name
        changed.append("name")
    if placement is not None and placement != locked.placement:
        locked.placement = placement
        changed.append("placement")
    if changed:
        locked.save(update_fields=changed)
    current = locked.current_version()
    if current is not None and current.text == text:
        return current
    last = locked.versions.aggregate(m=Max("version"))["m"] or 0
    return PrePromptVersion.objects.create(preprompt=locked, version=last + 1, text=text)
