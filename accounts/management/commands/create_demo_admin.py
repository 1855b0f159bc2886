"""Create the quick start's superuser once, and say how to log in.

`make run` calls this on every start, so it must be idempotent: an existing
user keeps its password (it may have been changed since), and only a new one
gets a random password, printed once because it is stored only as a hash.
"""

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import IntegrityError, transaction


class Command(BaseCommand):
    help = (
        "Create a superuser with a random password unless it exists, and print "
        "the admin URL and how to log in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/admin/",
            help="The admin's address, as printed for the user.",
        )

    def handle(self, *args: Any, username: str, url: str, **options: Any) -> None:
        password = secrets.token_urlsafe(15)
        if self._create(username=username, password=password):
            self.stdout.write(self.style.SUCCESS("Demo admin created. Log in at:"))
            self.stdout.write(f"  URL:      {url}")
            self.stdout.write(f"  Username: {username}")
            self.stdout.write(f"  Password: {password}")
        else:
            self.stdout.write(f"Demo admin {username!r} exists; password unchanged.")
            self.stdout.write(f"  URL:      {url}")
            self.stdout.write(
                f"  To reset: .venv/bin/python manage.py changepassword {username}"
            )

    def _create(self, *, username: str, password: str) -> bool:
        user_model = get_user_model()
        manager = user_model._default_manager
        if manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
            return False
        try:
            with transaction.atomic():
                manager.create_superuser(username, email="", password=password)
        except IntegrityError:
            # Another process got there first; its password stands.
            return False
        return True
