from django.urls import path

from core.api import operations
from prompts import api as api_prompts

app_name = "prompts_api"
urlpatterns = [
    path("prompts/", operations(get=api_prompts.PromptListApi, post=api_prompts.PromptCreateApi), name="prompts"),
    path("prompts/import/", api_prompts.PromptImportApi.as_view(), name="prompts-import"),
]
