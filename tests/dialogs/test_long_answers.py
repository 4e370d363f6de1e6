"""A decided turn's long answer folds into a <details> (no JavaScript): a finished dialog stays readable."""

import pytest
from django.urls import reverse

from dialogs.models import DialogCandidate
from tests.factories import make_dialog

pytestmark = pytest.mark.django_db

LONG = "Długa odpowiedź o historii Krakowa. " * 40  # ~1,400 characters


def test_long_answers_of_decided_turns_are_collapsed(seeded, annotator, login):
    dialog = make_dialog(annotator, turns=4)
    chosen = dialog.turns.get(index=2).chosen
    DialogCandidate.objects.filter(pk=chosen.pk).update(text=LONG)
    page = login(annotator).get(reverse("dialogs:dialog_detail", args=[dialog.pk])).content.decode()
    turn2 = page[page.index('id="turn-2"'): page.index('id="turn-3"')]
    turn1 = page[page.index('id="turn-1"'): page.index('id="turn-2"')]
    assert '<details class="dlg-long">' in turn2 and "<summary>" in turn2
    assert turn2.index('<details class="dlg-long">') < turn2.index('class="md dlg-assistant-text"')
    assert '<details class="dlg-long">' not in turn1  # a short answer stays open
    assert 'class="md dlg-assistant-text"' in turn1
