from django.urls import path

from . import views

urlpatterns = [
    path("", views.home),
    path("webinar", views.webinar),
    path("signup", views.signup),
    path("api/plans", views.plans),
    path("api/visitor", views.visitor_json),
    path("export.csv", views.export),
    path("<str:category>/<str:slug>", views.article),
]
