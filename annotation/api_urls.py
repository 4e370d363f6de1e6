"""API URLs, one list per concept (prompts, tasks, dialogs)."""

from .api_urls_dialogs import urlpatterns as dialog_urls
from .api_urls_prompts import urlpatterns as prompt_urls
from .api_urls_tasks import urlpatterns as task_urls

urlpatterns = prompt_urls + task_urls + dialog_urls
