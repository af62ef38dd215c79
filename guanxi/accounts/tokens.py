"""One-time password-reset tokens: Django's generator, with its own salt and a short lifetime."""

from __future__ import annotations

from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils.http import base36_to_int

RESET_TOKEN_MAX_AGE = 2 * 3600  # seconds a reset link works; shorter than Django's 3-day default


class ResetTokenGenerator(PasswordResetTokenGenerator):
    """Tokens cover the user's password hash and last sign-in, so a token stops working once used."""

    key_salt = "guanxi.accounts.tokens.ResetTokenGenerator"

    def check_token(self, user, token):  # type: ignore[no-untyped-def]
        if not super().check_token(user, token):
            return False
        try:
            ts = base36_to_int(token.split("-")[0])
        except ValueError:
            return False
        return (self._num_seconds(self._now()) - ts) <= RESET_TOKEN_MAX_AGE


reset_tokens = ResetTokenGenerator()
