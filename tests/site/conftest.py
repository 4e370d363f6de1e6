"""Fixtures of the site-wide tests."""

import pytest

from tests.factories import make_dialog, make_prompt, make_qa_ranking, make_qa_ranking_task, make_rating_task


@pytest.fixture
def objects(seeded, annotator, qa_lead, admin_user):
    from exports.models import Export
    from generation.models import Campaign, Endpoint, Generation, PrePrompt
    from qa.models import Feedback

    prompt = make_prompt(text="Pytanie testowe do macierzy dostępu", author=annotator)
    rating_task = make_rating_task()
    ranking_task, ids = make_qa_ranking_task()
    ranking = make_qa_ranking(ranking_task, annotator, ids)
    dialog = make_dialog(annotator, turns=1, finish=False)
    endpoint = Endpoint.objects.first()
    campaign = Campaign.objects.create(name="kampania", created_by=admin_user)
    generation = Generation.objects.filter(status=Generation.Status.DONE).first()
    export = Export.objects.create(name="eksport", created_by=admin_user)
    feedback = Feedback.objects.create(to_user=annotator, from_user=qa_lead, text="Dobra robota")
    return {
        "pk": prompt.pk, "task_id": rating_task.pk, "index": 1, "seat": "A", "token": "no-such-token",
        "dialog": dialog.pk, "endpoint": endpoint.pk, "campaign": campaign.pk, "generation": generation.pk,
        "export": export.pk, "feedback": feedback.pk, "ranking": ranking.pk, "ranking_task": ranking_task.pk,
        "preprompt": PrePrompt.objects.get(key="safety").pk, "prompt": prompt.pk,
    }
