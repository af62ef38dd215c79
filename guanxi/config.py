"""Settings read from the environment, validated once at start-up.

Every setting Guanxi reads from the environment is declared here, with its type and a default for embedded mode.
A bad value stops start-up with one message that names the variable, what it holds and what was expected.
Nothing else in the project reads ``os.environ`` for configuration.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


class ConfigError(Exception):
    """A bad environment setting. Its message names the variable and says what is wrong."""


def _bool(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name}={raw!r}: expected true/false (1/0, yes/no, on/off)")


def _int(name: str, raw: str, lo: int, hi: int) -> int:
    try:
        val = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number between {lo} and {hi}") from None
    if not lo <= val <= hi:
        raise ConfigError(f"{name}={raw!r}: expected a whole number between {lo} and {hi}")
    return val


@dataclass(frozen=True)
class DatabaseConfig:
    engine: str  # "sqlite" or "postgresql"
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""
    options: dict[str, str] = field(default_factory=dict)


def parse_database_url(name: str, raw: str) -> DatabaseConfig:
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme in {"postgres", "postgresql", "postgresql+psycopg"}:
        db = unquote(parts.path.lstrip("/"))
        if not db:
            raise ConfigError(f"{name}={raw!r}: the URL names no database (postgres://user@host:5432/DBNAME)")
        try:
            port = str(parts.port or "")
        except ValueError:
            raise ConfigError(f"{name}={raw!r}: the port is not a number") from None
        opts = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if "pool" in opts:
            opts["pool"] = "1" if _bool(f"{name} (?pool=)", opts["pool"]) else "0"
        if "pool_max" in opts:
            opts["pool_max"] = str(_int(f"{name} (?pool_max=)", opts["pool_max"], 1, 1000))
        return DatabaseConfig(
            engine="postgresql",
            name=db,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            host=unquote(parts.hostname or ""),
            port=port,
            options=opts,
        )
    if scheme == "sqlite":
        path = unquote(raw[len("sqlite://") :])
        if not path or path == "/":
            raise ConfigError(f"{name}={raw!r}: give a file, e.g. sqlite:///path/to/guanxi.sqlite3")
        return DatabaseConfig(engine="sqlite", name=path[1:] if path.startswith("//") else path)
    raise ConfigError(f"{name}={raw!r}: expected a postgres://… or sqlite:///… URL")


def _redis_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"redis", "rediss", "unix"} or not (parts.hostname or parts.path):
        raise ConfigError(f"{name}={raw!r}: expected a redis://host:6379/0 URL")
    return raw


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    user: str
    password: str
    use_tls: bool
    use_ssl: bool


def _smtp_url(name: str, raw: str) -> SmtpConfig:
    parts = urlsplit(raw)
    if parts.scheme not in {"smtp", "smtps", "smtp+tls"} or not parts.hostname:
        raise ConfigError(f"{name}={raw!r}: expected smtp://user:pass@host:25, smtp+tls://… or smtps://…")
    try:
        port = parts.port or {"smtp": 25, "smtp+tls": 587, "smtps": 465}[parts.scheme]
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: the port is not a number") from None
    return SmtpConfig(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_tls=parts.scheme == "smtp+tls",
        use_ssl=parts.scheme == "smtps",
    )


@dataclass(frozen=True)
class Config:
    data_dir: Path
    debug: bool
    secret_key: str
    database: DatabaseConfig
    redis_url: str | None
    smtp: SmtpConfig | None
    mail_from: str
    allowed_hosts: list[str]
    secure_cookies: bool
    base_url: str
    api_rate_limit: int  # requests per minute per API key
    login_max_failures: int
    log_json: bool
    log_level: str
    encryption_key: str | None = None  # for secrets at rest (guanxi.core.crypto); defaults to the secret key
    web_workers: int = 2  # scaled mode: granian worker processes per `guanxi serve`
    web_threads: int = 8  # scaled mode: blocking threads per web process (and the DB pool's default size)
    job_workers: int = 4  # threads per `guanxi worker` process
    realtime_port: int | None = None  # scaled mode: `guanxi serve` also runs the websocket routes here
    import_max_bytes: int = 2 * 1024**3  # the largest file an import accepts (GUANXI_IMPORT_MAX_BYTES)

    @property
    def scaled(self) -> bool:
        return self.database.engine == "postgresql"


def _secret_key(data_dir: Path, env: dict[str, str]) -> str:
    raw = env.get("GUANXI_SECRET_KEY")
    if raw is not None:
        if len(raw) < 32:
            raise ConfigError("GUANXI_SECRET_KEY: must be at least 32 characters long")
        return raw
    # Embedded mode: a random key kept in the data folder, so sessions survive a restart.
    keyfile = data_dir / "secret_key"
    if keyfile.exists():
        return keyfile.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    keyfile.write_text(key)
    keyfile.chmod(0o600)
    return key


def _encryption_key(env: dict[str, str]) -> str | None:
    raw = env.get("GUANXI_ENCRYPTION_KEY")
    if raw is None or raw == "":
        return None
    if len(raw) < 32:
        raise ConfigError("GUANXI_ENCRYPTION_KEY: must be at least 32 characters long (random, kept secret)")
    return raw


def load(env: dict[str, str] | None = None) -> Config:
    """Read and validate the environment. Raises ConfigError naming the first bad variable."""
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("GUANXI_DATA_DIR") or Path.cwd() / "data").expanduser().resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"GUANXI_DATA_DIR={str(data_dir)!r}: exists but is not a folder")
    debug = _bool("GUANXI_DEBUG", env.get("GUANXI_DEBUG", "0"))
    db_raw = env.get("GUANXI_DATABASE_URL", "")
    database = (
        parse_database_url("GUANXI_DATABASE_URL", db_raw)
        if db_raw
        else DatabaseConfig(engine="sqlite", name=str(data_dir / "guanxi.sqlite3"))
    )
    redis_raw = env.get("GUANXI_REDIS_URL", "")
    redis_url = _redis_url("GUANXI_REDIS_URL", redis_raw) if redis_raw else None
    smtp_raw = env.get("GUANXI_SMTP_URL", "")
    smtp = _smtp_url("GUANXI_SMTP_URL", smtp_raw) if smtp_raw else None
    hosts_raw = env.get("GUANXI_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
    allowed_hosts = [h.strip() for h in hosts_raw.split(",") if h.strip()]
    if not allowed_hosts:
        raise ConfigError("GUANXI_ALLOWED_HOSTS: give at least one host name, comma-separated")
    base_url = env.get("GUANXI_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    if urlsplit(base_url).scheme not in {"http", "https"}:
        raise ConfigError(f"GUANXI_BASE_URL={base_url!r}: expected an http:// or https:// URL")
    log_level = env.get("GUANXI_LOG_LEVEL", "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"GUANXI_LOG_LEVEL={log_level!r}: expected DEBUG, INFO, WARNING or ERROR")
    return Config(
        data_dir=data_dir,
        debug=debug,
        secret_key=_secret_key(data_dir, env),
        database=database,
        redis_url=redis_url,
        smtp=smtp,
        mail_from=env.get("GUANXI_MAIL_FROM", "Guanxi <noreply@guanxi.localhost>"),
        allowed_hosts=allowed_hosts,
        secure_cookies=_bool("GUANXI_SECURE_COOKIES", env.get("GUANXI_SECURE_COOKIES", "0")),
        base_url=base_url,
        api_rate_limit=_int("GUANXI_API_RATE_LIMIT", env.get("GUANXI_API_RATE_LIMIT", "600"), 1, 1_000_000),
        login_max_failures=_int(
            "GUANXI_LOGIN_MAX_FAILURES", env.get("GUANXI_LOGIN_MAX_FAILURES", "5"), 1, 1000
        ),
        log_json=_bool("GUANXI_LOG_JSON", env.get("GUANXI_LOG_JSON", "0")),
        log_level=log_level,
        encryption_key=_encryption_key(env),
        web_workers=_int("GUANXI_WEB_WORKERS", env.get("GUANXI_WEB_WORKERS", "2"), 1, 256),
        web_threads=_int("GUANXI_WEB_THREADS", env.get("GUANXI_WEB_THREADS", "8"), 1, 512),
        job_workers=_int("GUANXI_JOB_WORKERS", env.get("GUANXI_JOB_WORKERS", "4"), 1, 256),
        realtime_port=(
            _int("GUANXI_REALTIME_PORT", env["GUANXI_REALTIME_PORT"], 1, 65535)
            if env.get("GUANXI_REALTIME_PORT")
            else None
        ),
        import_max_bytes=_int(
            "GUANXI_IMPORT_MAX_BYTES", env.get("GUANXI_IMPORT_MAX_BYTES", str(2 * 1024**3)), 1024, 1024**4
        ),
    )
