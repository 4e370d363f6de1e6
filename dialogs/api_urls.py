from django.urls import path

from core.api import operations
from dialogs import api as api_dialogs

app_name = "dialogs_api"
urlpatterns = [
    path("dialogs/", operations(get=api_dialogs.DialogListApi, post=api_dialogs.DialogStartApi), name="dialogs"),
    path("dialogs/<int:pk>/", api_dialogs.DialogDetailApi.as_view(), name="dialog"),
    path("dialogs/<int:pk>/turns/", api_dialogs.DialogTurnApi.as_view(), name="dialog-turns"),
    path("dialogs/<int:pk>/turns/<int:index>/retry/", api_dialogs.DialogRetryApi.as_view(),
         name="dialog-retry"),
    path("dialogs/<int:pk>/turns/<int:index>/decide/", api_dialogs.DialogDecideApi.as_view(),
         name="dialog-decide"),
    path("dialogs/<int:pk>/finish/", api_dialogs.DialogFinishApi.as_view(), name="dialog-finish"),
]
