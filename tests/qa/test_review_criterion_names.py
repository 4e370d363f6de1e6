"""Review pages name the criteria (in the UI language), never their keys."""

import html
import re

import pytest
from django.urls import reverse

from prompts.models import Criterion
from qa import selectors
from tests.factories import make_qa_rating, make_qa_rating_pair

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language", ["pl", "en"])
def test_rating_pair_review_shows_criterion_names(language, seeded, annotator, annotator2, qa_lead, login):
    a, b = make_qa_rating_pair()
    make_qa_rating(a, annotator, 4)
    make_qa_rating(b, annotator2, 4)  # equal means: the pair waits in the "identical" queue
    pair_id = selectors.all_rating_pairs()[0].pair_id
    client = login(qa_lead)
    client.cookies["django_language"] = language
    page = html.unescape(client.get(reverse("qa:review_item", args=["rating_pair", pair_id])).content.decode())
    for criterion in Criterion.objects.all():
        assert f"{getattr(criterion, f'name_{language}')}: 4" in page
        assert not re.search(rf"\b{criterion.key}=", page)
