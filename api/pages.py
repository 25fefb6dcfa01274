"""The signed-in user's own API tokens: make one (shown once), see them, revoke one."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import tokens
from .forms import NewTokenForm


@never_cache
@login_required
def token_list(request):
    form = NewTokenForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        # Rendered in this response, never stored: the secret cannot be shown again.
        _, secret = tokens.issue(
            request.user,
            name=form.cleaned_data["name"],
            days=form.cleaned_data["days"],
            actor=request.user,
        )
        form = NewTokenForm()
    context = {"form": form, "secret": secret, "tokens": request.user.api_tokens.all()}
    return render(request, "api/tokens.html", context)


@login_required
@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(request.user.api_tokens, pk=pk)
    if tokens.revoke(token, actor=request.user):
        messages.success(request, f"Token {token.prefix}… is revoked: it no longer works.")
    return redirect("api:tokens")
