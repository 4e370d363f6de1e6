from django.urls import path

from . import api

app_name = "qa_api"
urlpatterns = [
    path("qa/agreement/", api.AgreementAPI.as_view(), name="qa-agreement"),
    path("qa/coverage/", api.CoverageAPI.as_view(), name="qa-coverage"),
    path("qa/reviews/", api.ReviewListAPI.as_view(), name="qa-reviews"),
    path("qa/reviews/decide/", api.ReviewDecideAPI.as_view(), name="qa-review-decide"),
    path("qa/gold/<int:task_id>/", api.GoldAPI.as_view(), name="qa-gold"),
    path("qa/feedback/", api.FeedbackSendAPI.as_view(), name="qa-feedback"),
]
