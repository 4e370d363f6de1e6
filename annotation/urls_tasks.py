from django.urls import path

from .views import tasks

urlpatterns = [
    path("", tasks.home, name="home"),
    path("feedback/<int:pk>/read/", tasks.feedback_read, name="feedback_read"),
    path("rate/next/", tasks.rating_next, name="rating_next"),
    path("rate/<int:task_id>/", tasks.rating_item, name="rating_item"),
    path("rank/next/", tasks.ranking_next, name="ranking_next"),
    path("rank/<int:task_id>/", tasks.ranking_item, name="ranking_item"),
    path("items/<int:task_id>/release/", tasks.claim_release, name="claim_release"),
]
