"""Encryption of small secrets at rest (TOTP secrets, tokens): AES-256-GCM with a versioned text format.

Format: ``v1:<base64url(nonce(12) || ciphertext || tag(16))>``. The version names the algorithm and the key
derivation, so a later scheme (``v2``) can be added while ``v1`` values are still read.

The key comes from ``GUANXI_ENCRYPTION_KEY`` when set (so ``SECRET_KEY`` can be rotated without losing the
encrypted data), else from ``SECRET_KEY``; either way through HKDF-SHA256, so the raw setting is never the key.
An optional ``context`` (e.g. ``"totp:42"``) is bound in as associated data: a value copied to another row or
purpose fails to decrypt instead of being silently accepted.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

VERSION = "v1"
_NONCE_BYTES = 12
_HKDF_INFO = b"guanxi.core.crypto v1 aes-256-gcm"


class DecryptionError(ValueError):
    """The value is malformed, of an unknown version, was encrypted under another key, or was tampered with."""


@functools.lru_cache(maxsize=4)
def _derive(material: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"guanxi", info=_HKDF_INFO).derive(
        material.encode("utf-8")
    )


def _key() -> bytes:
    material = getattr(settings, "GUANXI_ENCRYPTION_KEY", None) or settings.SECRET_KEY
    return _derive(material)


def encrypt_str(plaintext: str, *, context: str = "") -> str:
    """Encrypt ``plaintext``; a fresh random nonce each call, so equal inputs give different outputs."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_key()).encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
    return f"{VERSION}:" + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")


def decrypt_str(token: str, *, context: str = "") -> str:
    """Decrypt a value made by ``encrypt_str`` with the same ``context``. Raises DecryptionError otherwise."""
    version, sep, body = (token or "").partition(":")
    if not sep or version != VERSION:
        raise DecryptionError("unknown ciphertext version")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise DecryptionError("ciphertext is not valid base64") from None
    if len(raw) < _NONCE_BYTES + 16:
        raise DecryptionError("ciphertext is too short")
    try:
        plain = AESGCM(_key()).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode("utf-8"))
    except InvalidTag:
        raise DecryptionError("ciphertext does not verify under this key and context") from None
    return plain.decode("utf-8")
