from django.urls import path

from core import converters  # noqa: F401 - registers <id:…> (database ids)
from core.api import operations

from . import api

app_name = "generation_api"
urlpatterns = [
    path("endpoints/", operations(get=api.EndpointListApi, post=api.EndpointCreateApi), name="endpoints"),
    path("endpoints/<id:pk>/check/", api.EndpointCheckApi.as_view(), name="endpoint-check"),
    path("campaigns/", operations(get=api.CampaignListApi, post=api.CampaignCreateApi), name="campaigns"),
    path("campaigns/<id:pk>/", api.CampaignStatusApi.as_view(), name="campaign-status"),
    path("campaigns/<id:pk>/start/", api.CampaignStartApi.as_view(), name="campaign-start"),
    path("campaigns/<id:pk>/pause/", api.CampaignPauseApi.as_view(), name="campaign-pause"),
    path("campaigns/<id:pk>/resume/", api.CampaignResumeApi.as_view(), name="campaign-resume"),
    path("campaigns/<id:pk>/cancel/", api.CampaignCancelApi.as_view(), name="campaign-cancel"),
    path("responses/import/", api.ResponsesImportApi.as_view(), name="responses-import"),
]
