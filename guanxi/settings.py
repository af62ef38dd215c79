"""Django settings for Guanxi. Everything that varies by deployment comes from ``guanxi.config`` (the environment).

Embedded mode (default): SQLite in WAL mode under GUANXI_DATA_DIR, in-process jobs and channel layer, mail to the
local outbox. Scaled mode: GUANXI_DATABASE_URL=postgres://…, GUANXI_REDIS_URL=redis://… (cache, jobs, channels),
GUANXI_SMTP_URL=smtp://… for mail. Nothing else in the code branches on the mode.
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from guanxi import config as _config

try:
    CONFIG = _config.load()
except _config.ConfigError as exc:  # a clear message and a clean exit, not a traceback
    sys.stderr.write(f"Guanxi cannot start: bad setting / 配置错误: {exc}\n")
    raise SystemExit(2) from None

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = CONFIG.data_dir
SECRET_KEY = CONFIG.secret_key
GUANXI_ENCRYPTION_KEY = CONFIG.encryption_key  # secrets at rest (core.crypto); None: from SECRET_KEY
GUANXI_IMPORT_MAX_BYTES = CONFIG.import_max_bytes  # customer imports larger than this are refused up front
DEBUG = CONFIG.debug
ALLOWED_HOSTS = CONFIG.allowed_hosts
GUANXI_BASE_URL = CONFIG.base_url
GUANXI_SCALED = CONFIG.scaled
TESTING = "pytest" in sys.modules

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",  # serves the API docs page's assets locally (no CDN)
    "channels",
    "huey.contrib.djhuey",
    "guanxi.core",
    "guanxi.workspaces",
    "guanxi.ledger",
    "guanxi.customers",
    "guanxi.sales",
    "guanxi.service",
    "guanxi.analytics",
    "guanxi.contact_center",
    "guanxi.channels",
    "guanxi.webchat",
    "guanxi.telephony",
    "guanxi.accounts",
    "guanxi.web",
]

AUTH_USER_MODEL = "workspaces.User"

MIDDLEWARE = [
    "guanxi.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "guanxi.core.middleware.WorkspaceMiddleware",
    "guanxi.core.middleware.AppErrorMiddleware",
]

ROOT_URLCONF = "guanxi.urls"
WSGI_APPLICATION = "guanxi.wsgi.application"
ASGI_APPLICATION = "guanxi.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "guanxi.core.context_processors.workspace",
            ],
        },
    }
]

# --- database -------------------------------------------------------------------------------------------------
_db = CONFIG.database
if _db.engine == "sqlite":
    Path(_db.name).parent.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _db.name,
            "OPTIONS": {
                # WAL lets the web threads read while a job writes; IMMEDIATE avoids "database is locked"
                # upgrades from read to write transactions.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;"
                " PRAGMA foreign_keys=ON;",
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
else:
    _opts: dict[str, object] = dict(_db.options)
    _pool = _opts.pop("pool", "1") == "1"  # values validated by guanxi.config
    _pool_max = int(_opts.pop("pool_max", CONFIG.web_threads))  # one connection per web thread by default
    if _pool and not TESTING:
        # psycopg's pool (Django 5.1+): measured necessary under load, see shared/architecture.md. Tests run
        # without it: pytest-django's per-test transactions want one plain connection per thread.
        _opts["pool"] = {"min_size": 1, "max_size": _pool_max, "timeout": 10}
    DATABASES = {
        "default": {
            # Django's backend + RLS session state + UTF-8/C.UTF-8 test databases (guanxi/core/postgresql/base.py)
            "ENGINE": "guanxi.core.postgresql",
            "NAME": _db.name,
            "USER": _db.user,
            "PASSWORD": _db.password,
            "HOST": _db.host,
            "PORT": _db.port,
            "OPTIONS": _opts,
            # pg_trgm needs a UTF-8 ctype to see Chinese: test databases are created from template0 as
            # ENCODING UTF8 LOCALE C.UTF-8 (LOCALE is read by our backend; Django has no such TEST key).
            "TEST": {
                "NAME": f"test_{_db.name}",
                "TEMPLATE": "template0",
                "CHARSET": "UTF8",
                "LOCALE": "C.UTF-8",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache, jobs, real-time -----------------------------------------------------------------------------------
if CONFIG.redis_url:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CONFIG.redis_url}
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 gives every socket a 5 s read timeout by default, which aborts channels-redis's blocking
            # BZPOPMIN (brpop_timeout is 5 s too) and tears websocket consumers down: read with a longer one.
            "CONFIG": {
                "hosts": [{"address": CONFIG.redis_url, "socket_timeout": 30, "socket_connect_timeout": 5}]
            },
        }
    }
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "guanxi",
        "url": CONFIG.redis_url,
        "immediate": False,
        "consumer": {"workers": CONFIG.job_workers, "worker_type": "thread"},
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "guanxi"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "guanxi",
        "filename": str(DATA_DIR / "jobs.sqlite3"),
        "immediate": False,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }
if TESTING:
    HUEY["immediate"] = True

# --- auth & security ------------------------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:  # argon2's deliberate slowness would dominate the suite; production always uses Argon2
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "accounts:login"
GUANXI_LOGIN_MAX_FAILURES = CONFIG.login_max_failures
GUANXI_LOGIN_LOCKOUT_SECONDS = 15 * 60
GUANXI_API_RATE_LIMIT = CONFIG.api_rate_limit

SESSION_COOKIE_SECURE = CONFIG.secure_cookies
CSRF_COOKIE_SECURE = CONFIG.secure_cookies
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 14 * 24 * 3600
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = [CONFIG.base_url]

# --- mail -----------------------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = CONFIG.mail_from
if CONFIG.smtp:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = CONFIG.smtp.host
    EMAIL_PORT = CONFIG.smtp.port
    EMAIL_HOST_USER = CONFIG.smtp.user
    EMAIL_HOST_PASSWORD = CONFIG.smtp.password
    EMAIL_USE_TLS = CONFIG.smtp.use_tls
    EMAIL_USE_SSL = CONFIG.smtp.use_ssl
    EMAIL_TIMEOUT = 20
else:
    EMAIL_BACKEND = "guanxi.accounts.mail.OutboxBackend"  # embedded: mail lands in the local outbox table

# --- i18n -----------------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("简体中文"))]
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "customers" / "importing" / "locale"]  # import/export strings
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- static ---------------------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "media"},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve app static files without a collectstatic step in embedded mode
WHITENOISE_AUTOREFRESH = DEBUG

# --- logging --------------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "guanxi.core.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "guanxi.core.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "guanxi.core.logging.StderrHandler",
            "filters": ["request_id"],
            "formatter": "json" if CONFIG.log_json else "text",
        }
    },
    "root": {"handlers": ["console"], "level": CONFIG.log_level},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "huey": {"level": "WARNING"},
    },
}
