"""Authentication backends for the admin's Django users."""

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class AxesAdminBackend(AxesStandaloneBackend):
    """Axes' lockout check for admin logins, for clients only.

    ``authenticate()`` without a request comes from code rather than a client
    (``Client.login()`` in tests, ``changepassword``, a shell); Axes raises
    there, yet there is no client to count, so the check is skipped and the
    next backend decides. Logins over HTTP always carry the request.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
