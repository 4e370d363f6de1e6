from django.urls import path

from . import api_prompts

urlpatterns = [
    path("prompts/", api_prompts.PromptListCreateApi.as_view(), name="api-prompts"),
    path("prompts/import/", api_prompts.PromptImportApi.as_view(), name="api-prompts-import"),
]
