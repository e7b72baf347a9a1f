"""The one settings module. Every deployment switch is an environment variable read through
`beian.env`, which refuses a bad value at start-up."""

from pathlib import Path

from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE

from beian import env
from beian.ops import logs

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.string("BEIAN_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env.boolean("BEIAN_DEBUG", False)
# The embedded default runs on one machine for one person; a real deployment must set its own key.
SECRET_KEY = env.string("BEIAN_SECRET_KEY", "beian-embedded-default-not-for-production")
ALLOWED_HOSTS = env.string("BEIAN_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

# What this deployment serves (DESIGN §1): the provider's platform, the bureau, or both in one
# process as `make run` and the demo do. A provider deployment has no bureau app and no bureau
# database and reaches a bureau at BEIAN_BUREAU_URL; a bureau deployment serves /bureau/ alone.
BEIAN_DEPLOYMENT = env.choice("BEIAN_DEPLOYMENT", "both", ("both", "provider", "bureau"))
SERVES_PROVIDER = BEIAN_DEPLOYMENT in ("both", "provider")
SERVES_BUREAU = BEIAN_DEPLOYMENT in ("both", "bureau")

INSTALLED_APPS = [
    "django.contrib.admin",  # staff: accounts and groups, API tokens (see and revoke, never the secret)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "beian.messaging",
    "beian.accounts",  # every deployment's accounts: their emails sealed
    *(["beian.bureau"] if SERVES_BUREAU else []),
    *(["beian.provider", "beian.enforcement"] if SERVES_PROVIDER else []),
    "beian.staff",  # after the sides: its admin of accounts replaces Django's
    *(["beian.demo"] if BEIAN_DEPLOYMENT == "both" else []),
]

MIDDLEWARE = [
    "beian.ops.metrics.RequestMetrics",  # first: it times and counts all that follows
    # Next, so that it sees every answer: a body the answer left unread is dropped before it goes
    # out, and the client's kept-open connection stays usable (beian/keepalive.py).
    "beian.keepalive.DiscardUnreadBody",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # the content security policy below, with a nonce per page
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "beian.language.SessionLanguageMiddleware",  # a language picked with the switch outranks Accept-Language
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, nearest the view: the simulation's dropped connections (beian/bureau/simulation.py),
    # where the bureau is served.
    *(["beian.bureau.simulation.DropConnections"] if SERVES_BUREAU else []),
]

ROOT_URLCONF = "beian.urls"
WSGI_APPLICATION = "beian.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "beian" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# Two databases: `default` for the provider's platform, `bureau` for the simulated authority. In
# production they are separate deployments; embedded, they are two SQLite files.
# A web process keeps its connections between requests (opening one per request costs more than
# most answers); each is checked before reuse.
CONN_MAX_AGE = env.integer("BEIAN_DB_CONN_MAX_AGE", 600, minimum=0)
DATABASES = {
    "default": env.database("BEIAN_DATABASE_URL", str(VAR_DIR / "beian.sqlite3"), conn_max_age=CONN_MAX_AGE),
}
if SERVES_BUREAU:
    DATABASES["bureau"] = env.database(
        "BEIAN_BUREAU_DATABASE_URL", str(VAR_DIR / "bureau.sqlite3"), conn_max_age=CONN_MAX_AGE
    )
    # A streaming replica the public query reads (page and API), so that citizens' reads scale out
    # beside the primary; everything else reads the primary (beian.bureau.query.reader).
    _replica = env.replica("BEIAN_BUREAU_REPLICA_URL", DATABASES["bureau"], mirror="bureau", conn_max_age=CONN_MAX_AGE)
    if _replica is not None:
        DATABASES["bureau_replica"] = _replica

# Counters of the rate limits (the bureau's public endpoints, HTTP Basic on /api/v1/): local memory
# keeps them per process; a Redis URL shares them between every process of a deployment.
CACHES = {"default": env.cache("BEIAN_CACHE_URL")}
DATABASE_ROUTERS = ["beian.routers.BureauRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "beian" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
WHITENOISE_USE_FINDERS = True

# A request body larger than this is refused with 413 before any parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.integer("BEIAN_MAX_BODY_BYTES", 256 * 1024, minimum=1024)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# A page runs only the scripts it was served with: its own (each inline one carries the page's
# nonce; no inline handler anywhere) and this site's files. Inline style attributes stay allowed:
# the pages use them, and a style cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# The production profile (docs/hardening.md): served over HTTPS behind a proxy that terminates TLS
# (list it in BEIAN_TRUSTED_PROXIES, whose X-Forwarded-Proto gunicorn then believes). Off in the
# embedded default, which serves plain HTTP on 127.0.0.1.
BEIAN_HTTPS = env.boolean("BEIAN_HTTPS", False)
# Personal data of persons sealed at rest (beian/sealing.py): AES-256-GCM keys, `id:base64key`
# separated by commas, the first sealing and all of them opening; and the key of the keyed digests
# that look-ups and unique constraints compare. Unset, both are derived from SECRET_KEY, which
# only the embedded default may do.
BEIAN_DATA_KEYS = env.data_keys("BEIAN_DATA_KEYS")
BEIAN_DIGEST_KEY = env.key("BEIAN_DIGEST_KEY", length=32)
if BEIAN_HTTPS:
    if SECRET_KEY == "beian-embedded-default-not-for-production":
        raise env.ImproperValue(
            "BEIAN_HTTPS: set BEIAN_SECRET_KEY to a secret of its own (50 or more random characters)"
        )
    if not BEIAN_DATA_KEYS or not BEIAN_DIGEST_KEY:
        raise env.ImproperValue(
            "BEIAN_HTTPS: set BEIAN_DATA_KEYS and BEIAN_DIGEST_KEY, the keys personal data is sealed and digested "
            "with (docs/hardening.md)"
        )
    SECURE_SSL_REDIRECT = True
    # The edge's decision endpoints are asked by nginx or Caddy on the inside, over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^enforcement/"]
    SECURE_HSTS_SECONDS = env.integer("BEIAN_HSTS_SECONDS", 365 * 24 * 3600, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("BEIAN_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env.boolean("BEIAN_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True

# Messages: email through Django's backends (SMTP in production), SMS through beian.messaging.
# The embedded default keeps both in the sandbox shown at /messages/.
EMAIL_BACKEND = env.string("BEIAN_EMAIL_BACKEND", "beian.messaging.backends.SandboxEmailBackend")
BEIAN_SMS_BACKEND = env.string("BEIAN_SMS_BACKEND", "beian.messaging.backends.SandboxSmsBackend")
# With the SMTP backend: the server, and how long one try may take (less than the outbox's lease).
EMAIL_HOST = env.string("BEIAN_EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("BEIAN_EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env.string("BEIAN_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env.string("BEIAN_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env.boolean("BEIAN_EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env.integer("BEIAN_EMAIL_TIMEOUT", 20, minimum=1)
if EMAIL_TIMEOUT >= 120:  # the outbox's lease (beian/messaging/outbox.LEASE): a try must end within it
    raise env.ImproperValue("BEIAN_EMAIL_TIMEOUT: less than 120 (seconds)")
# Every SMS and email goes through an outbox, sent by the workers; a failed try waits 5 s, 10 s,
# 20 s … up to this long before the next (beian/messaging/outbox.py).
BEIAN_NOTICE_MAX_BACKOFF_SECONDS = env.integer("BEIAN_NOTICE_MAX_BACKOFF_SECONDS", 300, minimum=1)
# With beian.messaging.backends.HttpSmsBackend: where each SMS is posted, and the bearer token it carries.
BEIAN_SMS_URL = env.string("BEIAN_SMS_URL", "")
BEIAN_SMS_TOKEN = env.string("BEIAN_SMS_TOKEN", "")
DEFAULT_FROM_EMAIL = env.string("BEIAN_FROM_EMAIL", "beian@example.cn")
BEIAN_BUREAU_FROM_EMAIL = env.string("BEIAN_BUREAU_FROM_EMAIL", "noreply@beian.miit.example")

# The bureau. Simulation mode exposes /bureau/sim/v1/ (force decisions, move the clock, read
# messages, outages); a deployment that talks to a real authority turns it off.
BEIAN_SIMULATION = env.boolean("BEIAN_SIMULATION", True)
BEIAN_RULE_SET = env.choice("BEIAN_RULE_SET", "faq", ("faq", "miit2020"))
BEIAN_BUREAU_REVIEW = env.choice("BEIAN_BUREAU_REVIEW", "manual", ("manual", "auto"))
BEIAN_BUREAU_DELAY = env.choice("BEIAN_BUREAU_DELAY", "window", ("window", "instant"))
BEIAN_BUREAU_REJECT_SHARE = env.fraction("BEIAN_BUREAU_REJECT_SHARE", 0.0)
BEIAN_BUREAU_SEED = env.integer("BEIAN_BUREAU_SEED", 0)
# The simulated day a fresh demo world starts on (then time runs forward from it); unset: today.
BEIAN_SIM_START = env.day("BEIAN_SIM_START")
BEIAN_SHELL_GRACE_DAYS = env.integer("BEIAN_SHELL_GRACE_DAYS", 20, minimum=0)
BEIAN_PASSWORD_MAX_FAILURES = env.integer("BEIAN_PASSWORD_MAX_FAILURES", 5, minimum=1)
BEIAN_PASSWORD_LOCK_MINUTES = env.integer("BEIAN_PASSWORD_LOCK_MINUTES", 60, minimum=1)
# At the bureau, per client: a provider's customer (its opaque customer key), across entities.
BEIAN_CLIENT_PASSWORD_MAX_FAILURES = env.integer("BEIAN_CLIENT_PASSWORD_MAX_FAILURES", 20, minimum=1)
# At the provider, per customer, before the bureau sees them (beian/provider/passwords.py).
BEIAN_CUSTOMER_PASSWORD_MAX_FAILURES = env.integer("BEIAN_CUSTOMER_PASSWORD_MAX_FAILURES", 5, minimum=1)
# Load balancers and reverse proxies whose X-Forwarded-For is believed (addresses or CIDR blocks,
# comma-separated); no other sender's is. Every per-client limit counts the client they name
# (beian/clients.py). Unset: none, and each limit counts the connection's peer.
BEIAN_TRUSTED_PROXIES = env.networks("BEIAN_TRUSTED_PROXIES")
BEIAN_PUBLIC_RATE_PER_MINUTE = env.integer("BEIAN_PUBLIC_RATE_PER_MINUTE", 30, minimum=1)
# HTTP Basic on /api/v1/ (a password hash per request): attempts a minute per username and per client address.
BEIAN_BASIC_RATE_PER_MINUTE = env.integer("BEIAN_BASIC_RATE_PER_MINUTE", 30, minimum=1)
BEIAN_BASIC_CLIENT_RATE_PER_MINUTE = env.integer("BEIAN_BASIC_CLIENT_RATE_PER_MINUTE", 60, minimum=1)
# Sign-in pages (portal, console, admin; the bureau's console): attempts a minute per username and per client address.
BEIAN_SIGNIN_RATE_PER_MINUTE = env.integer("BEIAN_SIGNIN_RATE_PER_MINUTE", 10, minimum=1)
BEIAN_SIGNIN_CLIENT_RATE_PER_MINUTE = env.integer("BEIAN_SIGNIN_CLIENT_RATE_PER_MINUTE", 30, minimum=1)
BEIAN_WORKER_INTERVAL_SECONDS = env.integer("BEIAN_WORKER_INTERVAL_SECONDS", 2, minimum=1)
# Argon2 parameters for filing passwords and API keys (argon2-cffi's RFC 9106 low-memory profile).
BEIAN_ARGON2_TIME_COST = env.integer("BEIAN_ARGON2_TIME_COST", 3, minimum=1)
BEIAN_ARGON2_MEMORY_KIB = env.integer("BEIAN_ARGON2_MEMORY_KIB", 65536, minimum=64)

# Logs: text lines, or JSON lines (one object a line, one line per request and per worker job:
# beian/ops/logs.py) for a log shipper.
BEIAN_LOG_FORMAT = env.choice("BEIAN_LOG_FORMAT", "text", ("text", "json"))
LOGGING = logs.config(BEIAN_LOG_FORMAT, env.string("BEIAN_LOG_LEVEL", "INFO"))

# Operations (docs/deploy.md). /readyz wants a heartbeat of each of these kinds of worker no older
# than BEIAN_HEARTBEAT_STALE_SECONDS (a worker beats after every round, every few seconds).
BEIAN_READY_WORKERS = env.names(
    "BEIAN_READY_WORKERS",
    ",".join(side for side, served in (("provider", SERVES_PROVIDER), ("bureau", SERVES_BUREAU)) if served),
    allowed=("provider", "bureau"),
)
BEIAN_HEARTBEAT_STALE_SECONDS = env.integer("BEIAN_HEARTBEAT_STALE_SECONDS", 60, minimum=1)
# /metrics answers a request with this bearer token, or one straight from these networks (no proxy).
BEIAN_METRICS_TOKEN = env.string("BEIAN_METRICS_TOKEN", "")
BEIAN_METRICS_NETWORKS = env.networks("BEIAN_METRICS_NETWORKS", "127.0.0.1/32,::1/128")

# Where people reach this platform and the bureau (links in notices and SMS).
BEIAN_PUBLIC_URL = env.string("BEIAN_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
BEIAN_BUREAU_PUBLIC_URL = env.string("BEIAN_BUREAU_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

# The provider platform's link to the bureau. The embedded default talks to the simulated bureau
# in this same deployment, with the demo operator's documented key.
BEIAN_BUREAU_URL = env.string("BEIAN_BUREAU_URL", "http://127.0.0.1:8000/bureau/api/v1")
BEIAN_BUREAU_API_KEY = env.string("BEIAN_BUREAU_API_KEY", "democloud.operator-demo-key-not-a-secret")
BEIAN_DELIVERY_MAX_BACKOFF_SECONDS = env.integer("BEIAN_DELIVERY_MAX_BACKOFF_SECONDS", 600, minimum=1)

# Enforcement (DESIGN §7). The decision server (beian.enforcement.server, :8001) reads the mirror for
# changes this often: a change of filing or access reaches its decisions within about this delay.
BEIAN_ENFORCEMENT_POLL_SECONDS = env.fraction("BEIAN_ENFORCEMENT_POLL_SECONDS", 0.2)
if BEIAN_ENFORCEMENT_POLL_SECONDS < 0.01:
    raise env.ImproperValue("BEIAN_ENFORCEMENT_POLL_SECONDS: at least 0.01 (seconds)")
# How long an edge proxy may keep a decision (Cache-Control: max-age); 0 sends no-store.
BEIAN_ENFORCEMENT_CACHE_SECONDS = env.integer("BEIAN_ENFORCEMENT_CACHE_SECONDS", 1, minimum=0)
# An edge silent, or lacking a change, for longer than this is flagged on /enforcement/ (beian.enforcement.fleet).
BEIAN_FLEET_STALE_SECONDS = env.integer("BEIAN_FLEET_STALE_SECONDS", 60, minimum=1)
