from django.urls import path

from annotation import api as api_tasks
from core import converters  # noqa: F401 - registers <id:…> (database ids)

app_name = "annotation_api"
urlpatterns = [
    path("tasks/assemble/", api_tasks.TasksAssembleApi.as_view(), name="tasks-assemble"),
    path("tasks/ping/", api_tasks.PingApi.as_view(), name="task-ping"),
    path("tasks/next/", api_tasks.ClaimNextApi.as_view(), name="task-next"),
    path("tasks/<id:task_id>/rating/", api_tasks.RatingSubmitApi.as_view(), name="task-rating"),
    path("tasks/<id:task_id>/ranking/", api_tasks.RankingSubmitApi.as_view(), name="task-ranking"),
    path("tasks/<id:task_id>/release/", api_tasks.ClaimReleaseApi.as_view(), name="task-release"),
]
