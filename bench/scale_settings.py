"""The project's settings plus one route for bench/scale.py's baseline: a website read by primary key
through the same gunicorn, Django and database connection as the public query."""

from beian.settings import *  # noqa: F403

ROOT_URLCONF = "bench.scale_urls"
