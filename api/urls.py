from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import pages, views

app_name = "api"

urlpatterns = [
    path("api/v1/homes/", views.HomeList.as_view(), name="homes"),
    path("api/v1/homes/<str:ods_code>/", views.HomeDetail.as_view(), name="home"),
    path("api/v1/accounts/", views.AccountList.as_view(), name="accounts"),
    path("api/v1/mailboxes/", views.MailboxList.as_view(), name="mailboxes"),
    path("api/v1/runs/", views.RunList.as_view(), name="runs"),
    path("api/v1/worklist/", views.Worklist.as_view(), name="worklist"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/docs.html"),
        name="docs",
    ),
    path("api-tokens/", pages.token_list, name="tokens"),
    path("api-tokens/<int:pk>/revoke/", pages.token_revoke, name="token_revoke"),
]
