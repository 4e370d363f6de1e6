from django.urls import path

from annotation import views as tasks
from core import converters  # noqa: F401 - registers <id:…> (database ids)

app_name = "annotation"
urlpatterns = [
    # Task assembly lives here (it builds annotation tasks) but keeps its URLs beside the generation pages.
    path("generation/campaigns/<id:pk>/assemble/", tasks.campaign_assemble, name="campaign_assemble"),
    path("generation/tasks/assemble/", tasks.tasks_assemble_all, name="tasks_assemble"),
    path("rate/next/", tasks.rating_next, name="rating_next"),
    path("rate/<id:task_id>/", tasks.rating_item, name="rating_item"),
    path("rank/next/", tasks.ranking_next, name="ranking_next"),
    path("rank/<id:task_id>/", tasks.ranking_item, name="ranking_item"),
    path("items/<id:task_id>/release/", tasks.claim_release, name="claim_release"),
]
