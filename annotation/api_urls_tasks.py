from django.urls import path

from . import api_tasks

urlpatterns = [
    path("tasks/ping/", api_tasks.PingApi.as_view(), name="api-task-ping"),
    path("tasks/next/", api_tasks.ClaimNextApi.as_view(), name="api-task-next"),
    path("tasks/<int:task_id>/rating/", api_tasks.RatingSubmitApi.as_view(), name="api-task-rating"),
    path("tasks/<int:task_id>/ranking/", api_tasks.RankingSubmitApi.as_view(), name="api-task-ranking"),
    path("tasks/<int:task_id>/release/", api_tasks.ClaimReleaseApi.as_view(), name="api-task-release"),
]
