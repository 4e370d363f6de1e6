from django.urls import path

from core import converters  # noqa: F401 - registers <id:…> (database ids)

from . import views

app_name = "qa"
urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/csv/<slug:chart>/", views.chart_csv, name="chart_csv"),
    path("reviews/", views.review_queue, name="reviews"),
    path("reviews/<slug:queue>/", views.review_queue, name="review_queue"),
    path("review/<slug:kind>/<id:target_id>/", views.review_item, name="review_item"),
    path("gold/", views.gold, name="gold"),
    path("gold/<id:task_id>/", views.gold_edit, name="gold_edit"),
    path("feedback/", views.feedback, name="feedback"),
    path("coverage/", views.coverage, name="coverage"),
    path("coverage/csv/", views.coverage_csv, name="coverage_csv"),
]
