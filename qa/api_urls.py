from django.urls import path

from core import converters  # noqa: F401 - registers <id:…> (database ids)

from . import api

app_name = "qa_api"
urlpatterns = [
    path("qa/agreement/", api.AgreementApi.as_view(), name="qa-agreement"),
    path("qa/coverage/", api.CoverageApi.as_view(), name="qa-coverage"),
    path("qa/reviews/", api.ReviewListApi.as_view(), name="qa-reviews"),
    path("qa/reviews/decide/", api.ReviewDecideApi.as_view(), name="qa-review-decide"),
    path("qa/gold/<id:task_id>/", api.GoldApi.as_view(), name="qa-gold"),
    path("qa/feedback/", api.FeedbackSendApi.as_view(), name="qa-feedback"),
]
