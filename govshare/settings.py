"""Django settings.  Values an operator changes come from :mod:`govshare.config` (environment)."""

from __future__ import annotations

import dj_database_url
from django.utils.translation import gettext_lazy as _

from govshare.config import BASE_DIR, Config

CONFIG = Config.from_env()

DEBUG = CONFIG.debug
SECRET_KEY = CONFIG.secret_key
ALLOWED_HOSTS = CONFIG.allowed_hosts
CSRF_TRUSTED_ORIGINS = CONFIG.csrf_trusted_origins
DATA_DIR = CONFIG.data_dir
DATA_DIR.mkdir(parents=True, exist_ok=True)
#: the catalog search index (tantivy); rebuilt with `govshare catalog reindex`
GOVSHARE_SEARCH_DIR = DATA_DIR / "search"
GOVSHARE_LETTERS_DIR = DATA_DIR / "sharing" / "letters"
#: what the demo keeps for its next start (the demo system key of the data API, shown once otherwise)
GOVSHARE_DEMO_DIR = DATA_DIR / "demo"
#: online verification (SHR-9): calls a minute per consuming system or user
GOVSHARE_VERIFY_PER_MINUTE = CONFIG.verify_per_minute
#: batch downloads (issue 11): where their files are built and how many days they are kept
GOVSHARE_DOWNLOAD_DIR = CONFIG.download_dir or DATA_DIR / "downloads"
GOVSHARE_DOWNLOAD_KEEP_DAYS = CONFIG.download_keep_days
#: spreadsheet uploads (EXC-3, issue 11 item 8): where the files are kept, the largest file and the most rows
GOVSHARE_UPLOAD_DIR = CONFIG.upload_dir or DATA_DIR / "uploads"
GOVSHARE_UPLOAD_MAX_MB = CONFIG.upload_max_mb
GOVSHARE_UPLOAD_MAX_ROWS = CONFIG.upload_max_rows
#: files shared under file-kind entries (EXC-2, issue 11 item 7): where every version is kept, the largest file
GOVSHARE_FILE_DIR = CONFIG.file_dir or DATA_DIR / "files"
GOVSHARE_FILE_MAX_MB = CONFIG.file_max_mb
GOVSHARE_MAX_QUERY_INDEXES = CONFIG.max_query_indexes
GOVSHARE_DATA_COUNT_MS = CONFIG.count_ms
GOVSHARE_DOWNLOAD_PARTS = CONFIG.download_parts
GOVSHARE_DELIVERY_STREAMS = CONFIG.delivery_streams
GOVSHARE_LETTER_MAX_BYTES = CONFIG.letter_max_mb * 1024 * 1024  # stamped application letters (SHR-2)
GOVSHARE_DIGEST_HOUR = CONFIG.digest_hour
#: a worker beats every sixth of this; a job of a worker silent this long is resumed elsewhere (core.jobs)
GOVSHARE_WORKER_STALE_SECONDS = CONFIG.worker_stale_seconds
GOVSHARE_PUBLIC_URL = CONFIG.public_url
#: front-end databases (exchange, EXC-6): the folder of SQLite sources and the addresses sources may have
GOVSHARE_SOURCE_DIR = CONFIG.source_dir
GOVSHARE_SOURCE_ALLOW_LOOPBACK = CONFIG.source_allow_loopback
GOVSHARE_SOURCE_ALLOW_NETWORKS = CONFIG.source_allow_networks
GOVSHARE_SOURCE_DENY_NETWORKS = CONFIG.source_deny_networks
GOVSHARE_SLOT_ALARM_MB = CONFIG.slot_alarm_mb
GOVSHARE_SLOT_ALARM_MINUTES = CONFIG.slot_alarm_minutes
#: the data resource centre (数据资源中心): its own database, SQLite file by default (issue 10)
GOVSHARE_DATASTORE_URL = CONFIG.datastore_url

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "ninja",
    "govshare.core",
    "govshare.catalog",
    "govshare.sharing",
    "govshare.datastore",
    "govshare.exchange",
]

MIDDLEWARE = [
    "govshare.core.middleware.RequestSizeLimitMiddleware",
    "govshare.core.middleware.NulCharacterMiddleware",
    "govshare.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "govshare.core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "govshare.core.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "govshare.core.middleware.IdleTimeoutMiddleware",
    "govshare.core.middleware.AuditUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "govshare.urls"
WSGI_APPLICATION = "govshare.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "govshare.core.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.parse(CONFIG.database_url, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout so that the web server and the worker can share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    # Connections kept, as on PostgreSQL: a new SQLite connection per request (Django's ~30 functions, the
    # PRAGMAs, the schema parsed again at its first statement) cost ~5 ms of a data-API page over HTTP (issue 11;
    # docs/benchmarks.md "Kept SQLite connections").  Each server thread keeps its own; WAL lets the worker write.
    DATABASES["default"]["CONN_MAX_AGE"] = 60
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and CONFIG.pg_prepared_statements:
    # Server-side parameters and prepared statements: a query run a few times on a connection is
    # planned once (the entry page's joins cost ~3 ms of planning each time otherwise; issue 9 load).
    # Our backend runs a statement with more parameters than the server can bind on the client instead.
    # Off behind a pooler in transaction mode (GOVSHARE_PG_PREPARED_STATEMENTS=false, docs/operations.md).
    DATABASES["default"]["ENGINE"] = "govshare.core.db.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 5})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = ["govshare.core.auth.LockoutModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Django's checks with messages of the platform's catalogue, rendered in the reader's language
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "govshare.core.passwords.UserAttributeSimilarityValidator",
     "OPTIONS": {"user_attributes": ("username", "real_name", "email")}},
    {"NAME": "govshare.core.passwords.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "govshare.core.passwords.CommonPasswordValidator"},
    {"NAME": "govshare.core.passwords.NumericPasswordValidator"},
]
LOGIN_URL = "core:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "core:login"

SESSION_COOKIE_AGE = CONFIG.session_age_minutes * 60
GOVSHARE_SESSION_IDLE_SECONDS = CONFIG.session_idle_minutes * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CONFIG.secure_cookies
CSRF_COOKIE_SECURE = CONFIG.secure_cookies
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# the CSRF token reaches htmx through the page (base.html), never through JavaScript reading the cookie
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = CONFIG.secure_cookies

# HTTPS (issue 9): with GOVSHARE_HTTPS=true every answer carries HSTS and plain HTTP is redirected,
# except /healthz (probed over plain HTTP on the machine itself).  Behind a TLS-terminating proxy,
# GOVSHARE_PROXY_SSL_HEADER names the header it sets ("X-Forwarded-Proto: https").
SECURE_SSL_REDIRECT = CONFIG.https
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = CONFIG.hsts_seconds if CONFIG.https else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = CONFIG.https
SECURE_HSTS_PRELOAD = CONFIG.https and CONFIG.hsts_preload
if CONFIG.proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + CONFIG.proxy_ssl_header.upper().replace("-", "_"), "https")
if CONFIG.https and CONFIG.public_url.startswith("https://") and CONFIG.public_url not in CSRF_TRUSTED_ORIGINS:
    CSRF_TRUSTED_ORIGINS = [*CSRF_TRUSTED_ORIGINS, CONFIG.public_url]
# an operator who turns preload off (GOVSHARE_HSTS_PRELOAD=false) has decided against it
SILENCED_SYSTEM_CHECKS = ["security.W021"] if CONFIG.https and not CONFIG.hsts_preload else []
#: proxies whose X-Forwarded-For names the client (core.middleware.client_ip)
GOVSHARE_TRUSTED_PROXIES = CONFIG.trusted_proxies

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "govshare" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "govshare" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": DATA_DIR / "files"}},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
GOVSHARE_MAX_REQUEST_BYTES = CONFIG.max_request_mb * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
#: a catalog entry form carries 7 fields per information item (up to 500 items)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5000

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

EMAIL_HOST = CONFIG.email_host
EMAIL_PORT = CONFIG.email_port
DEFAULT_FROM_EMAIL = CONFIG.email_from

GOVSHARE_DEFAULT_PROFILE = CONFIG.default_profile
GOVSHARE_LOGIN_MAX_FAILURES = CONFIG.login_max_failures
GOVSHARE_LOGIN_LOCKOUT_MINUTES = CONFIG.login_lockout_minutes
# login protection (issue 9, docs/security.md § "Login protection")
GOVSHARE_LOGIN_THROTTLE_FREE = CONFIG.login_throttle_free
GOVSHARE_LOGIN_THROTTLE_IP_FREE = CONFIG.login_throttle_ip_free
GOVSHARE_LOGIN_THROTTLE_BASE_SECONDS = CONFIG.login_throttle_base_seconds
GOVSHARE_LOGIN_THROTTLE_MAX_SECONDS = CONFIG.login_throttle_max_seconds
GOVSHARE_LOGIN_THROTTLE_WINDOW_MINUTES = CONFIG.login_throttle_window_minutes
GOVSHARE_LOGIN_KNOWN_ADDRESS_DAYS = CONFIG.login_known_address_days
GOVSHARE_FIELD_KEY = CONFIG.field_key

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "govshare": {"level": "INFO"},
        "django_tasks": {"level": "INFO"},
        "django_tasks_db": {"level": "INFO"},
    },
}

# Human-readable names of the platform, used in templates.
PLATFORM_NAME = _("Government Data Sharing and Open Data Platform")
