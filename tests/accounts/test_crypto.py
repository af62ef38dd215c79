import pytest
from django.test import override_settings

from guanxi.core.crypto import DecryptionError, decrypt_str, encrypt_str


def test_it_round_trips_and_uses_a_fresh_nonce():
    a, b = encrypt_str("秘密 secret"), encrypt_str("秘密 secret")
    assert a.startswith("v1:") and a != b
    assert decrypt_str(a) == decrypt_str(b) == "秘密 secret"
    assert "secret" not in a


def test_it_refuses_another_context():
    token = encrypt_str("JBSWY3DPEHPK3PXP", context="totp:1")
    with pytest.raises(DecryptionError):
        decrypt_str(token, context="totp:2")


def test_it_refuses_tampering_and_unknown_versions():
    token = encrypt_str("hello")
    body = token[3:]
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in ["v1:" + flipped, "v2:" + body, "hello", "v1:!!", "v1:AAAA", ""]:
        with pytest.raises(DecryptionError):
            decrypt_str(bad)


def test_it_uses_the_encryption_key_when_set():
    token = encrypt_str("hello")
    with override_settings(GUANXI_ENCRYPTION_KEY="k" * 40):
        other = encrypt_str("hello")
        assert decrypt_str(other) == "hello"
        with pytest.raises(DecryptionError):
            decrypt_str(token)
    with pytest.raises(DecryptionError):
        decrypt_str(other)


def test_config_refuses_a_short_encryption_key(tmp_path):
    from guanxi import config

    env = {"GUANXI_DATA_DIR": str(tmp_path), "GUANXI_SECRET_KEY": "s" * 40}
    assert config.load(env).encryption_key is None
    assert config.load({**env, "GUANXI_ENCRYPTION_KEY": "e" * 32}).encryption_key == "e" * 32
    with pytest.raises(config.ConfigError, match="GUANXI_ENCRYPTION_KEY"):
        config.load({**env, "GUANXI_ENCRYPTION_KEY": "short"})
