from django.urls import path

from . import views

app_name = "guidance"
urlpatterns = [
    path("", views.index, name="index"),
    path("card/<str:ods_code>/", views.card, name="card"),
    path("<slug:slug>/", views.page, name="page"),
]
