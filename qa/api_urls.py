from django.urls import path

from . import api

urlpatterns = [
    path("qa/agreement/", api.AgreementAPI.as_view(), name="api-qa-agreement"),
    path("qa/coverage/", api.CoverageAPI.as_view(), name="api-qa-coverage"),
    path("qa/reviews/", api.ReviewListAPI.as_view(), name="api-qa-reviews"),
    path("qa/reviews/decide/", api.ReviewDecideAPI.as_view(), name="api-qa-review-decide"),
    path("qa/gold/<int:task_id>/", api.GoldAPI.as_view(), name="api-qa-gold"),
    path("qa/feedback/", api.FeedbackSendAPI.as_view(), name="api-qa-feedback"),
]
