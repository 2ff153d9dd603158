"""Working-day calendar pages (issue 2 §5).  The nav links to ``core:calendar``."""

from django.urls import path

from govshare.core.web import calendar_views

urlpatterns = [
    path("calendar/", calendar_views.calendar_page, name="calendar"),
    path("calendar/calc/", calendar_views.calendar_calc, name="calendar_calc"),
    path("calendar/import/", calendar_views.calendar_import, name="calendar_import"),
    path("calendar/day/", calendar_views.calendar_day, name="calendar_day"),
]
