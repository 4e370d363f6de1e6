from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from /api/docs/?script= instead of inline, and our
    # template links its page CSS instead of a <style> block: the page keeps the site's Content-Security-Policy.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="core/api_docs.html"),
        name="api-docs",
    ),
    path("api/", include("prompts.api_urls")),
    path("api/", include("annotation.api_urls")),
    path("api/", include("dialogs.api_urls")),
    path("api/", include("generation.api_urls")),
    path("api/", include("exports.api_urls")),
    path("api/", include("qa.api_urls")),
    # annotation's task-assembly URLs live under generation/ (generation/campaigns/<pk>/assemble/): listed
    # first so generation's campaigns/<pk>/<action>/ does not take "assemble" for an action.
    path("", include("annotation.urls")),
    path("generation/", include("generation.urls")),
    path("exports/", include("exports.urls")),
    path("qa/", include("qa.urls")),
    path("", include("home.urls")),
    path("", include("core.urls")),
    path("", include("prompts.urls")),
    path("", include("dialogs.urls")),
]

handler404 = "core.views.page_not_found"  # JSON under /api/, the styled page elsewhere
