"""Annotation URLs, assembled from one list per concept so each module owns its routes."""

from .urls_dialogs import urlpatterns as dialog_urls
from .urls_prompts import urlpatterns as prompt_urls
from .urls_tasks import urlpatterns as task_urls

urlpatterns = prompt_urls + task_urls + dialog_urls
