from django.urls import path

from prompts import api as api_prompts

app_name = "prompts_api"
urlpatterns = [
    path("prompts/", api_prompts.PromptListCreateApi.as_view(), name="prompts"),
    path("prompts/import/", api_prompts.PromptImportApi.as_view(), name="prompts-import"),
]
