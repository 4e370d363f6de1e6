from django.urls import path

from core import converters  # noqa: F401 - registers <id:…> (database ids)
from dialogs import views as dialogs

app_name = "dialogs"
urlpatterns = [
    path("dialogs/", dialogs.dialog_list, name="dialog_list"),
    path("dialogs/new/", dialogs.dialog_start, name="dialog_start"),
    path("dialogs/<id:pk>/", dialogs.dialog_detail, name="dialog_detail"),
    path("dialogs/<id:pk>/turns/", dialogs.dialog_turn_create, name="dialog_turn_create"),
    path("dialogs/<id:pk>/turns/<int:index>/stream/", dialogs.dialog_turn_stream, name="dialog_turn_stream"),
    path("dialogs/<id:pk>/turns/<int:index>/decide/", dialogs.dialog_turn_decide, name="dialog_turn_decide"),
    path(
        "dialogs/<id:pk>/turns/<int:index>/answers/<str:seat>/",
        dialogs.dialog_candidate,
        name="dialog_candidate",
    ),
    path(
        "dialogs/<id:pk>/turns/<int:index>/answers/<str:seat>/retry/",
        dialogs.dialog_candidate_retry,
        name="dialog_candidate_retry",
    ),
    path("dialogs/<id:pk>/finish/", dialogs.dialog_finish, name="dialog_finish"),
    path("dialogs/<id:pk>/abandon/", dialogs.dialog_abandon, name="dialog_abandon"),
]
