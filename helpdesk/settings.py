"""Settings for the helpdesk project.

Every setting is read here, from the environment (or a local `.env`), with django-environ.
Nothing else in the code base reads the environment. Defaults are safe for production:
DEBUG off, SECRET_KEY required, no allowed hosts. `make run` writes a local `.env` for development.
"""

import os
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# One BLAS thread per process (every entry point loads settings before numpy): the retriever
# multiplies a query's vectors by the passage matrix, where BLAS threads only spin (measured:
# 2.8 → 1.5 ms at 10k passages); it splits that work over its own threads instead.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

env = environ.Env()
# The local `.env` (`make run` writes one) fills in what the environment doesn't set. ENV_FILE
# names another file; empty reads none (`make test` does that: a developer's `.env` must not
# change what the tests see).
ENV_FILE = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    environ.Env.read_env(ENV_FILE, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY")
if not SECRET_KEY.strip():
    # An empty key boots and then fails every request with a 500: refuse to start instead.
    raise ImproperlyConfigured(
        "SECRET_KEY is empty: set it to a long random value, e.g. the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI for /docs, served from the package (no CDN)
    "helpdesk",
    "customers",
    "tickets",
    "knowledge",
    "triage",
]

MIDDLEWARE = [
    "helpdesk.api.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
WSGI_APPLICATION = "helpdesk.wsgi.application"
APPEND_SLASH = False

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
            ],
        },
    },
]

# SQLite is the embedded default so `make run` needs nothing installed; Postgres in CI and
# production. Persistent connections matter for latency: a new Postgres connection costs ~5 ms.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# --- SQLite (the embedded default) under concurrency ------------------------------------------
# Several processes (gunicorn -w 4) write one file. A deferred transaction that reads first and
# then writes cannot wait for the lock (SQLite answers "database is locked" at once, whatever
# the timeout), so every transaction.atomic() begins IMMEDIATE: it takes the write lock up front
# and waits up to SQLITE_BUSY_TIMEOUT seconds for it. WAL lets readers run while one process
# writes; synchronous=NORMAL is durable in WAL mode except for the last commits on power loss.
SQLITE_BUSY_TIMEOUT = env.float("SQLITE_BUSY_TIMEOUT", default=20.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": SQLITE_BUSY_TIMEOUT,
            "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0

# --- Database timeouts (Postgres) -------------------------------------------------------------
# A database that accepts connections and never answers must not hold a request for ever: a
# connection attempt gives up after DATABASE_CONNECT_TIMEOUT seconds (libpq: at least 2; a
# `?connect_timeout=` in DATABASE_URL wins), a statement after DATABASE_STATEMENT_TIMEOUT_MS
# (set on each new connection by helpdesk/db.py; 0: no limit, e.g. for `migrate` on big
# tables). Either answers the API client 503 with Retry-After. Every database touch in a request
# waits its own connect timeout: with the throttle counters in the database cache (which fails
# open), a request to a silent database answers after about twice DATABASE_CONNECT_TIMEOUT.
DATABASE_CONNECT_TIMEOUT = env.int("DATABASE_CONNECT_TIMEOUT", default=3)
DATABASE_STATEMENT_TIMEOUT_MS = env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=10_000)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", DATABASE_CONNECT_TIMEOUT
    )

# --- Prepared statements (Postgres) -----------------------------------------------------------
# Parameters are bound by the server and psycopg prepares a statement once it has run
# DATABASE_PREPARE_THRESHOLD times on a connection, so the same few statements of every
# POST /tickets are parsed and planned once per connection instead of once per request
# (Postgres CPU per create 3.1 -> 2.2 ms, bench/README.md). Set DATABASE_PREPARED_STATEMENTS=false
# behind a pooler that cannot carry prepared statements across its server connections
# (PgBouncer in transaction mode before 1.21); RDS Proxy pins such a connection to its client.
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
DATABASE_PREPARE_THRESHOLD = env.int("DATABASE_PREPARE_THRESHOLD", default=5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and (
    DATABASE_PREPARED_STATEMENTS
):
    DATABASES["default"]["OPTIONS"].update(
        server_side_binding=True, prepare_threshold=DATABASE_PREPARE_THRESHOLD
    )

# A reused connection's health check looks at its socket before it asks the server anything
# (helpdesk/postgresql/base.py): no `SELECT 1` round trip per request on a quiet connection.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "helpdesk.postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Shared cache: throttle counters ---------------------------------------------------------
# Every server process (gunicorn workers, Lambda instances) counts against one budget per
# client, so the counters live in a shared cache: by default Django's database cache table
# (created by `migrate`); or a cache the deployment already has (redis://…, pymemcache://…).
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://helpdesk_cache")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 2000)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # At DEBUG these log what customers and clients send: request bodies (ticket text, e-mail
    # addresses), signed Authorization headers, SQL with its parameters. They stay at WARNING
    # whatever LOG_LEVEL says (tests/test_log_redaction.py).
    "loggers": {
        name: {"level": "WARNING"}
        for name in (
            "botocore",
            "boto3",
            "s3transfer",
            "urllib3",
            "pynamodb",
            "django.db.backends",
        )
    },
}

# --- Process ---------------------------------------------------------------------------------
# Python's cyclic garbage collector runs a generation-0 collection every this many net
# allocations of container objects. Python's own 700 meant a collection every few requests
# (a create leaves thousands of objects in reference cycles): 4.2 % of the server's CPU in
# py-spy, 2.5 % with 50,000, ≈ 0.2 ms a ticket (bench/README.md "The garbage collector"). Set in
# each process as Django starts (helpdesk.apps). 0 leaves Python's.
GC_GEN0_THRESHOLD = env.int("GC_GEN0_THRESHOLD", default=50_000)
if GC_GEN0_THRESHOLD < 0:
    raise ImproperlyConfigured(f"GC_GEN0_THRESHOLD is 0 or more, not {GC_GEN0_THRESHOLD}")

# --- API -------------------------------------------------------------------------------------
# Largest request body the API reads at all; bigger requests get 413 before parsing.
API_MAX_REQUEST_BYTES = env.int("API_MAX_REQUEST_BYTES", default=256 * 1024)
# Deepest nesting of arrays/objects a JSON body (or `filter` parameter) may have; deeper is a
# 400 parse_error before parsing (Python's json recurses per level: 10,000 levels were a 500).
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
# Largest ticket body (UTF-8 bytes) accepted by POST /tickets; more is a 413.
TICKET_BODY_MAX_BYTES = env.int("TICKET_BODY_MAX_BYTES", default=64 * 1024)
# How long each server process trusts an API key it has verified before reading it again: a
# revoked key keeps working for at most this long in other processes. 0 reads it every request.
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=10)
# How long an Idempotency-Key is remembered.
IDEMPOTENCY_TTL_HOURS = env.int("IDEMPOTENCY_TTL_HOURS", default=24)
# `?search=` on lists: each term is an OR of LIKEs over every search field, so the terms bound
# the query's size and cost (helpdesk/api/filters.py); more or longer terms are a 400.
SEARCH_MAX_TERMS = env.int("SEARCH_MAX_TERMS", default=10)
SEARCH_MAX_TERM_CHARS = env.int("SEARCH_MAX_TERM_CHARS", default=100)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "helpdesk.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["helpdesk.auth.ScopeRequired"],  # table: helpdesk/scopes.py
    "DEFAULT_PARSER_CLASSES": ["helpdesk.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": (
        ["rest_framework.renderers.JSONRenderer", "rest_framework.renderers.BrowsableAPIRenderer"]
        if env.bool("BROWSABLE_API", default=True)
        else ["rest_framework.renderers.JSONRenderer"]
    ),
    "DEFAULT_THROTTLE_CLASSES": ["helpdesk.throttling.ClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env.str("THROTTLE_RATE_API_KEY", default="6000/min"),
        "user": env.str("THROTTLE_RATE_USER", default="1200/min"),
        "anon": env.str("THROTTLE_RATE_ANON", default="60/min"),
        # Per client address: requests that fail authentication (then 429, no key lookup) ...
        "failed_auth": env.str("THROTTLE_RATE_FAILED_AUTH", default="20/min"),
        # ... and GET /health.
        "health": env.str("THROTTLE_RATE_HEALTH", default="120/min"),
    },
    # Proxies in front that append to X-Forwarded-For (API Gateway: 1); 0 uses REMOTE_ADDR.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "helpdesk.api.pagination.DefaultPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "helpdesk.api.schema.HelpdeskAutoSchema",
    "EXCEPTION_HANDLER": "helpdesk.api.handlers.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# --- OpenAPI schema (/schema) and Swagger UI (/docs) -------------------------------------------
# The API-key scheme and every operation's errors come from helpdesk/api/schema.py.
SPECTACULAR_SETTINGS = {
    "TITLE": "helpdesk API",
    "DESCRIPTION": "Tickets with the customer's whole picture and knowledge-base suggestions. "
    'Every error is `{"error": {"code", "message", "fields"}}`.',
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "helpdesk.api.schema.closed_request_bodies",
    ],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI's files come from drf-spectacular-sidecar, served by this app (helpdesk/urls.py):
    # /docs works offline, and the version is the pinned one, not a CDN's @latest.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "TicketStatusEnum": "tickets.models.Ticket.Status",
        "OrderStatusEnum": "customers.models.Order.Status",
        "SyncJobStatusEnum": "knowledge.models.SyncJob.Status",
        "HealthStatusEnum": "helpdesk.health.STATUSES",
    },
}

# --- Interaction log -------------------------------------------------------------------------
INTERACTION_STORE = env.str("INTERACTION_STORE", default="database")
INTERACTION_RETENTION_DAYS = env.int("INTERACTION_RETENTION_DAYS", default=400)
AWS_REGION = env.str("AWS_REGION", default="eu-west-2")
DYNAMODB_TABLE = env.str("DYNAMODB_TABLE", default="helpdesk-interactions")
DYNAMODB_ENDPOINT_URL = env.str("DYNAMODB_ENDPOINT_URL", default="") or None
# A local S3-protocol server (moto) instead of AWS, for tests and development.
S3_ENDPOINT_URL = env.str("S3_ENDPOINT_URL", default="") or None

# --- Knowledge base --------------------------------------------------------------------------
KB_BACKEND = env.str("KB_BACKEND", default="local")
KB_SOURCE = env.str("KB_SOURCE", default=str(BASE_DIR / "knowledge" / "sample_kb"))
# POST /kb/sync runs the sync in a background thread of the server process and answers at once.
KB_SYNC_BACKGROUND = env.bool("KB_SYNC_BACKGROUND", default=True)
KB_SUGGESTIONS = env.int("KB_SUGGESTIONS", default=5)
# Where the KB's articles are published: a suggestion's source is this + the article's path
# (unless its sidecar gives a `url`). Empty: the path alone, relative.
KB_PUBLIC_BASE_URL = env.str("KB_PUBLIC_BASE_URL", default="")
if KB_PUBLIC_BASE_URL and not re.match(r"^https?://[^/\s]+", KB_PUBLIC_BASE_URL):
    raise ImproperlyConfigured(f"KB_PUBLIC_BASE_URL is an http(s) URL, not {KB_PUBLIC_BASE_URL!r}")
# Passage size: 60 words (30 overlapping) measured best for MiniLM (knowledge/RETRIEVAL.md).
KB_CHUNK_WORDS = env.int("KB_CHUNK_WORDS", default=60)
KB_CHUNK_OVERLAP_WORDS = env.int("KB_CHUNK_OVERLAP_WORDS", default=30)
# Where the local backend keeps its ONNX export of the bundled MiniLM model (written once).
KB_MODEL_CACHE_DIR = env.str("KB_MODEL_CACHE_DIR", default=str(BASE_DIR / "var" / "models"))
# Threads the encoder uses per process (0: up to 2). With several workers on few cores, use 1.
KB_ENCODER_THREADS = env.int("KB_ENCODER_THREADS", default=0)
# Queries run on an int8 copy of the encoder (~2x faster, kb_eval within 0.004); fp32: exact.
KB_QUERY_PRECISION = env.str("KB_QUERY_PRECISION", default="int8")
if KB_QUERY_PRECISION not in ("int8", "fp32"):
    raise ImproperlyConfigured(f"KB_QUERY_PRECISION is int8 or fp32, not {KB_QUERY_PRECISION!r}")

# Triage (triage/): a predicted category at or above this confidence is applied to the ticket.
TRIAGE_APPLY_THRESHOLD = env.float("TRIAGE_APPLY_THRESHOLD", default=0.8)
if not 0 <= TRIAGE_APPLY_THRESHOLD <= 1:
    raise ImproperlyConfigured("TRIAGE_APPLY_THRESHOLD is a confidence between 0 and 1")
# Trained triage models kept in the database (the current one always among them): older ones
# are deleted when a new one is stored; any kept one can be made current again (admin).
TRIAGE_MODELS_KEPT = env.int("TRIAGE_MODELS_KEPT", default=5)
if TRIAGE_MODELS_KEPT < 1:
    raise ImproperlyConfigured("TRIAGE_MODELS_KEPT is at least 1 (the current model)")
# GET /tickets/{id}/similar: open tickets at or above this cosine to the ticket (chosen on half of
# the stackfaq rewordings for the best F1 of "is a duplicate", bench/similar_eval.py, TRIAGE.md).
SIMILAR_TICKETS_THRESHOLD = env.float("SIMILAR_TICKETS_THRESHOLD", default=0.6)
if not 0 <= SIMILAR_TICKETS_THRESHOLD <= 1:
    raise ImproperlyConfigured("SIMILAR_TICKETS_THRESHOLD is a cosine between 0 and 1")
# Which encoder embeds tickets for similar tickets: `local` (the KB's MiniLM, whose query vector
# retrieval already computed) or `bedrock` (Amazon Titan Text Embeddings through Bedrock's
# InvokeModel: where no local encoder runs, the Lambda). Follows KB_BACKEND unless set.
SIMILAR_ENCODER = env.str(
    "SIMILAR_ENCODER", default="bedrock" if KB_BACKEND == "bedrock" else "local"
)
if SIMILAR_ENCODER not in ("local", "bedrock"):
    raise ImproperlyConfigured(f"SIMILAR_ENCODER is local or bedrock, not {SIMILAR_ENCODER!r}")
SIMILAR_BEDROCK_MODEL_ID = env.str(
    "SIMILAR_BEDROCK_MODEL_ID", default="amazon.titan-embed-text-v2:0"
)
SIMILAR_BEDROCK_DIMENSIONS = env.int("SIMILAR_BEDROCK_DIMENSIONS", default=1024)
if SIMILAR_BEDROCK_DIMENSIONS not in (256, 512, 1024):
    raise ImproperlyConfigured("SIMILAR_BEDROCK_DIMENSIONS is 256, 512 or 1024 (Titan v2's sizes)")

# The priority rule: a new ticket whose sentiment (VADER compound, -1 … 1) is at or below this
# gets at least `high` priority (triage/arrival.py). -1 turns the rule off in practice.
TRIAGE_NEGATIVE_SENTIMENT = env.float("TRIAGE_NEGATIVE_SENTIMENT", default=-0.8)
if not -1 <= TRIAGE_NEGATIVE_SENTIMENT <= 1:
    raise ImproperlyConfigured("TRIAGE_NEGATIVE_SENTIMENT is a score between -1 and 1")
# triage_eval's on-disk cache of text embeddings (keyed by text hash and encoder version).
TRIAGE_EVAL_CACHE_DIR = env.str(
    "TRIAGE_EVAL_CACHE_DIR", default=str(BASE_DIR / "var" / "triage-cache")
)
BEDROCK_KB_ID = env.str("BEDROCK_KB_ID", default="")
BEDROCK_DATA_SOURCE_ID = env.str("BEDROCK_DATA_SOURCE_ID", default="")
# HYBRID (vector + keyword) needs a vector store that supports it; SEMANTIC works with all.
BEDROCK_SEARCH_TYPE = env.str("BEDROCK_SEARCH_TYPE", default="HYBRID")
# Tries per Bedrock call on throttling, 5xx and connection errors before the KB counts as down.
BEDROCK_MAX_ATTEMPTS = env.int("BEDROCK_MAX_ATTEMPTS", default=3)

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- HTTPS in production (`manage.py check --deploy --fail-level WARNING` passes) --------------
# TLS ends at API Gateway or the load balancer, which says so in X-Forwarded-Proto; Django trusts
# that header only as configured here ("Header-Name: value"; empty: trust no header). Only right
# behind a proxy that sets it (API Gateway, ALB and nginx with `proxy_set_header` do).
_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="X-Forwarded-Proto: https")
if _ssl_header.strip():
    _name, _, _value = _ssl_header.partition(":")
    if not _name.strip() or not _value.strip():
        raise ImproperlyConfigured(
            f'SECURE_PROXY_SSL_HEADER is "Header-Name: value", not {_ssl_header!r}'
        )
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + _name.strip().upper().replace("-", "_"),
        _value.strip(),
    )
# Plain-HTTP requests are redirected to HTTPS (off in DEBUG; off for a server that is reached
# over plain HTTP on purpose, such as bench/ on loopback). Load balancers probe /health over HTTP.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health$"]
# HSTS: browsers use HTTPS only for this host (and its subdomains) for a year. The API's host is
# HTTPS-only anyway; `preload` only matters once the domain is submitted to the preload list.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# --- E-mail: agent replies out (tickets/mail.py) ---------------------------------------------
# Django's e-mail API. Development prints mails (console); production sends through Amazon SES
# with django-anymail (`anymail.backends.amazon_ses.EmailBackend`, boto3 credentials of the
# function's role, region AWS_REGION) or SMTP (`django.core.mail.backends.smtp.EmailBackend`).
# A problem ticket's reply sent to its incidents' customers: this many are posted in the agent's
# request, the rest by `manage.py incident_replies_drain` / the per-minute Lambda task.
INCIDENT_REPLIES_INLINE = env.int("INCIDENT_REPLIES_INLINE", default=25)
if INCIDENT_REPLIES_INLINE < 0:
    raise ImproperlyConfigured("INCIDENT_REPLIES_INLINE is 0 or more")
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
# Seconds before an unresponsive mail server counts as down (the reply waits in the outbox).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# The support address replies come from (and customers answer to): `Name <address>` or address.
HELPDESK_FROM_EMAIL = env.str("HELPDESK_FROM_EMAIL", default="Support <support@localhost>")
DEFAULT_FROM_EMAIL = HELPDESK_FROM_EMAIL
# The right-hand side of our Message-IDs (`<…@domain>`): default, the support address's domain.
HELPDESK_EMAIL_DOMAIN = (
    env.str("HELPDESK_EMAIL_DOMAIN", default="")
    or HELPDESK_FROM_EMAIL.strip().rstrip(">").rpartition("@")[2]
    or "localhost"
)
# Where customers reach this deployment (`https://help.example.com`; the API Gateway URL on
# the Lambda): the satisfaction links in the e-mail that resolves a ticket point there
# (tickets/satisfaction.py). Empty: no links. `make run` sets it to its own address.
HELPDESK_PUBLIC_URL = env.str("HELPDESK_PUBLIC_URL", default="").rstrip("/")
if HELPDESK_PUBLIC_URL and not re.match(r"^https?://[^/\s]+", HELPDESK_PUBLIC_URL):
    raise ImproperlyConfigured(
        f"HELPDESK_PUBLIC_URL is an http(s) URL, not {HELPDESK_PUBLIC_URL!r}"
    )
# How long a satisfaction link works after its e-mail was sent.
SATISFACTION_LINK_DAYS = env.int("SATISFACTION_LINK_DAYS", default=30)
if SATISFACTION_LINK_DAYS < 1:
    raise ImproperlyConfigured("SATISFACTION_LINK_DAYS is 1 or more")
# Few, short tries per send: a reply that fails waits in the outbox, which does the retrying;
# botocore's default retries would only hold the request that sends it after the commit.
ANYMAIL = {
    "AMAZON_SES_CLIENT_PARAMS": {
        "region_name": AWS_REGION,
        "config": {"retries": {"total_max_attempts": 2, "mode": "standard"}, "connect_timeout": 5},
    }
}
if env.str("AMAZON_SES_CONFIGURATION_SET", default=""):
    ANYMAIL["AMAZON_SES_CONFIGURATION_SET_NAME"] = env.str("AMAZON_SES_CONFIGURATION_SET")
# Inbound webhooks (tickets/webhooks.py): `user:password` the provider sends as HTTP basic auth
# (SES via SNS has nothing else); Mailgun's signing key checks its HMAC signature. A webhook
# whose secret is empty answers 404.
if env.str("INBOUND_WEBHOOK_SECRET", default=""):
    ANYMAIL["WEBHOOK_SECRET"] = env.str("INBOUND_WEBHOOK_SECRET")
if env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default=""):
    ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"] = env.str("MAILGUN_WEBHOOK_SIGNING_KEY")

# --- E-mail in: POST /inbound/email (tickets/inbound.py) ---------------------------------------
# Largest raw message accepted (headers, text and base64-encoded attachments); larger → 413 before
# anything is read. API Gateway + Lambda take at most 6 MB per request whatever this says.
INBOUND_MAX_REQUEST_BYTES = env.int("INBOUND_MAX_REQUEST_BYTES", default=10 * 1024 * 1024)
# Django's own cap on a body it parses: the largest per-path limit, so that a provider webhook
# posting the raw message as a form field (Mailgun's `body-mime`) can be read. Every path's own
# limit (API_MAX_REQUEST_BYTES; INBOUND_MAX_REQUEST_BYTES under /inbound/) is enforced on the
# Content-Length first, by helpdesk.api.middleware.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(API_MAX_REQUEST_BYTES, INBOUND_MAX_REQUEST_BYTES)
# Largest attachment stored (decoded bytes); a larger one is recorded without its content.
INBOUND_MAX_ATTACHMENT_BYTES = env.int("INBOUND_MAX_ATTACHMENT_BYTES", default=5 * 1024 * 1024)
# SES's "store in S3" receipt action: the Lambda reads objects created under this prefix of the
# mail bucket (its S3 event, zappa_settings.json) as raw messages.
INBOUND_S3_PREFIX = env.str("INBOUND_S3_PREFIX", default="inbound/")
# Attachments go through Django's storage API: the filesystem under MEDIA_ROOT by default; in
# production S3 through django-storages (STORAGE_BACKEND=s3 and AWS_STORAGE_BUCKET_NAME; README
# "E-mail in"). STORAGE_BACKEND also takes any storage class's dotted path.
MEDIA_ROOT = env.str("MEDIA_ROOT", default="") or str(BASE_DIR / "var" / "media")
MEDIA_URL = "media/"
_STORAGE_ALIASES = {
    "filesystem": "django.core.files.storage.FileSystemStorage",
    "s3": "storages.backends.s3.S3Storage",
}
_storage_backend = env.str("STORAGE_BACKEND", default="") or "filesystem"
_storage_backend = _STORAGE_ALIASES.get(_storage_backend, _storage_backend)
STORAGES = {
    "default": {"BACKEND": _storage_backend},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="") or None
if _storage_backend == _STORAGE_ALIASES["s3"] and not AWS_STORAGE_BUCKET_NAME:
    # Caught at start-up, not at the first e-mail with an attachment.
    raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME")
# django-storages' S3Storage reads these when it is built (unused by the filesystem storage).
AWS_S3_REGION_NAME = AWS_REGION
AWS_S3_ENDPOINT_URL = S3_ENDPOINT_URL  # a local S3-protocol server (moto) in tests/development
AWS_LOCATION = env.str("AWS_STORAGE_PREFIX", default="attachments")
AWS_DEFAULT_ACL = None  # private objects; agents read them through signed URLs
AWS_QUERYSTRING_AUTH = True

# --- Deadlines: a dependency that hangs never holds a request (issue 10) ----------------------
# The most a ticket (or /kb/search) waits for KB retrieval, in total: connect, read and retries
# included. Past it the ticket is answered `degraded`, /kb/search with a 503.
KB_RETRIEVAL_DEADLINE_SECONDS = env.float("KB_RETRIEVAL_DEADLINE_SECONDS", default=2.0)
# The most /health waits for each dependency's check (interaction store, KB backend).
HEALTH_CHECK_TIMEOUT_SECONDS = env.float("HEALTH_CHECK_TIMEOUT_SECONDS", default=1.0)
# Connect and read timeout of each DynamoDB call (interaction store; no retry on timeouts).
DYNAMODB_TIMEOUT_SECONDS = env.float("DYNAMODB_TIMEOUT_SECONDS", default=1.0)
for _name in ("KB_RETRIEVAL_DEADLINE_SECONDS", "HEALTH_CHECK_TIMEOUT_SECONDS"):
    if not 0 < globals()[_name] <= 25:
        raise ImproperlyConfigured(f"{_name} is between 0 and 25 seconds (API Gateway: 30)")
if DYNAMODB_TIMEOUT_SECONDS <= 0:
    raise ImproperlyConfigured("DYNAMODB_TIMEOUT_SECONDS must be positive")
# A local Bedrock-protocol server (bedrock-agent, -agent-runtime, -runtime: tests); empty: AWS.
BEDROCK_ENDPOINT_URL = env.str("BEDROCK_ENDPOINT_URL", default="") or None
