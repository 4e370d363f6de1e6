from django.db import transaction

from core.reference import load_reference

from .models import PrePrompt, PrePromptVersion


@transaction.atomic
def preprompts_seed(*, reference: dict | None = None) -> int:
    """The paper's nine pre-prompts verbatim (version 1) plus "none" (empty text). Returns rows created."""
    created_count = 0
    rows = [{"key": "none", "name": "None", "text_pl": "", "gloss_en": "", "intent": "none"}]
    rows += (reference or load_reference())["preprompts"]
    for row in rows:
        preprompt, created = PrePrompt.objects.get_or_create(
            key=row["key"],
            defaults={
                "name": row["name"],
                "intent": row["intent"],
                "targets_criterion": row.get("targets_criterion") or "",
                "gloss_en": row.get("gloss_en", ""),
            },
        )
        if created:
            PrePromptVersion.objects.create(preprompt=preprompt, version=1, text=row["text_pl"])
            created_count += 1
    return created_count
