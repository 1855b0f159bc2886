"""One-use, short-lived password reset links for mailboxes."""

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils.http import base36_to_int

from domains.models import Mailbox


class MailboxResetTokenGenerator(PasswordResetTokenGenerator):
    """Django's reset tokens, keyed on what a reset changes.

    The token is an HMAC over the mailbox's password hash, the time of its
    last change and its recovery address: setting a password (with this link
    or otherwise) or changing the recovery address makes every earlier link
    invalid, which is what makes a link single-use without storing it.
    """

    key_salt = "accounts.tokens.MailboxResetTokenGenerator"

    def _make_hash_value(self, user: Mailbox, timestamp: int) -> str:
        from accounts.models import RecoveryAddress

        changed = user.password_changed_at
        # Whole seconds since the epoch: the same whether the value was just set
        # in memory or read back from a database that rounds or shifts zones.
        changed_at = "" if changed is None else int(changed.timestamp())
        recovery = (
            RecoveryAddress.objects.filter(mailbox=user)
            .values_list("address", flat=True)
            .first()
        )
        return f"{user.pk}{user.password}{changed_at}{recovery or ''}{timestamp}"

    def check_token(self, user: Mailbox | None, token: str | None) -> bool:
        """Also expire after MAILPANEL_PORTAL_RESET_TIMEOUT, not Django's 3 days."""
        if user is None or not token or not super().check_token(user, token):
            return False
        issued = base36_to_int(token.partition("-")[0])
        age = self._num_seconds(self._now()) - issued
        return age <= settings.MAILPANEL_PORTAL_RESET_TIMEOUT


reset_tokens = MailboxResetTokenGenerator()
