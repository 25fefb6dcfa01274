from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from accounts.scoping import get_home_for_user, homes_for

from . import pages


def index(request):
    query = request.GET.get("q", "").strip()[:200]
    context = {"pages": pages.all_pages(), "query": query}
    if query:
        context["results"] = pages.search(query)
    return render(request, "guidance/index.html", context)


def page(request, slug):
    found = pages.get_page(slug)
    if found is None:
        raise Http404("No such guidance page.")
    homes = []
    if found.personalised and request.user.is_authenticated and not request.user.is_admin:
        homes = list(homes_for(request.user)[:10])
    return render(
        request, "guidance/page.html", {"page": found, "homes": homes, "pages": pages.all_pages()}
    )


@login_required
def card(request, ods_code):
    """A one-page helpdesk card for the office wall, for the people who may see this home."""
    home = get_home_for_user(request.user, ods_code)
    return render(request, "guidance/card.html", {"home": home})
