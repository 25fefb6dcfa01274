"""Sign-in and password reset: Django's views, limited per address (throttle.py), and the
reset email sent by the worker."""

from django.contrib.auth import views as auth_views

from .forms import EmailAuthenticationForm, PortalPasswordResetForm
from .tasks import BROKER_DOWN
from .throttle import throttled

sign_in = throttled("sign-in")(
    auth_views.LoginView.as_view(authentication_form=EmailAuthenticationForm)
)


class PasswordResetView(auth_views.PasswordResetView):
    form_class = PortalPasswordResetForm

    def form_valid(self, form):
        try:
            return super().form_valid(form)
        except BROKER_DOWN:
            # The same answer for every address, so it tells nobody which have a sign-in.
            form.add_error(None, "The email cannot be sent just now. Try again in a few minutes.")
            return self.form_invalid(form)


password_reset = throttled("password-reset")(PasswordResetView.as_view())
