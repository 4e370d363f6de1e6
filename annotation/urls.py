from django.urls import path

from annotation import views as tasks

app_name = "annotation"
urlpatterns = [
    # Task assembly lives here (it builds annotation tasks) but keeps its URLs beside the generation pages.
    path("generation/campaigns/<int:pk>/assemble/", tasks.campaign_assemble, name="campaign_assemble"),
    path("generation/tasks/assemble/", tasks.tasks_assemble_all, name="tasks_assemble"),
    path("rate/next/", tasks.rating_next, name="rating_next"),
    path("rate/<int:task_id>/", tasks.rating_item, name="rating_item"),
    path("rank/next/", tasks.ranking_next, name="ranking_next"),
    path("rank/<int:task_id>/", tasks.ranking_item, name="ranking_item"),
    path("items/<int:task_id>/release/", tasks.claim_release, name="claim_release"),
]
