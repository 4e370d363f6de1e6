from django.urls import path

from core import converters  # noqa: F401 - registers <id:…> (database ids)
from core.api import operations
from dialogs import api as api_dialogs

app_name = "dialogs_api"
urlpatterns = [
    path("dialogs/", operations(get=api_dialogs.DialogListApi, post=api_dialogs.DialogStartApi), name="dialogs"),
    path("dialogs/<id:pk>/", api_dialogs.DialogDetailApi.as_view(), name="dialog"),
    path("dialogs/<id:pk>/turns/", api_dialogs.DialogTurnApi.as_view(), name="dialog-turns"),
    path("dialogs/<id:pk>/turns/<id:index>/retry/", api_dialogs.DialogRetryApi.as_view(),
         name="dialog-retry"),
    path("dialogs/<id:pk>/turns/<id:index>/decide/", api_dialogs.DialogDecideApi.as_view(),
         name="dialog-decide"),
    path("dialogs/<id:pk>/finish/", api_dialogs.DialogFinishApi.as_view(), name="dialog-finish"),
]
