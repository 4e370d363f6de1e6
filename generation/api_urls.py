from django.urls import path

from . import api

urlpatterns = [
    path("endpoints/", api.EndpointListCreateApi.as_view(), name="api-endpoints"),
    path("endpoints/<int:pk>/check/", api.EndpointCheckApi.as_view(), name="api-endpoint-check"),
    path("campaigns/", api.CampaignListCreateApi.as_view(), name="api-campaigns"),
    path("campaigns/<int:pk>/", api.CampaignStatusApi.as_view(), name="api-campaign-status"),
    path("campaigns/<int:pk>/start/", api.CampaignStartApi.as_view(), name="api-campaign-start"),
    path("campaigns/<int:pk>/pause/", api.CampaignPauseApi.as_view(), name="api-campaign-pause"),
    path("campaigns/<int:pk>/resume/", api.CampaignResumeApi.as_view(), name="api-campaign-resume"),
    path("campaigns/<int:pk>/cancel/", api.CampaignCancelApi.as_view(), name="api-campaign-cancel"),
    path("responses/import/", api.ResponsesImportApi.as_view(), name="api-responses-import"),
    path("tasks/assemble/", api.TasksAssembleApi.as_view(), name="api-tasks-assemble"),
]
