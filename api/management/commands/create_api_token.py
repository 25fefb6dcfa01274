from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.rules import normalise_email

from ... import tokens


class Command(BaseCommand):
    help = (
        "Make a personal API token for a portal user. It sees what the user sees. The token "
        "is printed alone on the last line, once: only its hash is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument(
            "--days", type=int, default=90, help="days until it expires (default 90)"
        )
        parser.add_argument("--name", default="Made with create_api_token", help="what it is for")

    def handle(self, *args, **options):
        email = normalise_email(options["email"])
        user = User.objects.filter(email=email).first()
        if user is None:
            raise CommandError(f"EMAIL: no portal user {email!r}; add one with add_portal_user.")
        if not user.is_active:
            raise CommandError(f"EMAIL: {email} can no longer sign in, so gets no token.")
        days, most = options["days"], tokens.max_days()
        if not 1 <= days <= most:
            raise CommandError(f"--days: {days} is not between 1 and {most}.")
        name = options["name"].strip()[:100] or "Made with create_api_token"
        token, secret = tokens.issue(user, name=name, days=days, actor=None)
        self.stdout.write(
            f"API token for {user.email} ({user.get_role_display()}), "
            f"expires {token.expires_at:%Y-%m-%d %H:%M %Z}. It is shown only this once:"
        )
        self.stdout.write(secret)
