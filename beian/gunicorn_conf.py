"""gunicorn for the embedded default: the platform at http://127.0.0.1:8000."""

import os

bind = os.environ.get("BEIAN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("BEIAN_WEB_WORKERS", "2"))
threads = int(os.environ.get("BEIAN_WEB_THREADS", "4"))
worker_class = "gthread"
accesslog = "-"
timeout = 30
