"""Small readers of the environment that fail loudly on a bad value.

A typo in a deployment's environment must stop the process at start-up, not surface later as a
silently ignored switch.
"""

import base64
import binascii
import ipaddress
import os
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import dj_database_url


class ImproperValue(Exception):
    pass


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def string(name: str, default: str) -> str:
    value = _raw(name)
    return default if value is None else value


def boolean(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperValue(f"{name}={value!r}: expected true/false, 1/0, yes/no or on/off")


def integer(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperValue(f"{name}={value!r}: expected an integer") from None
    if minimum is not None and number < minimum:
        raise ImproperValue(f"{name}={number}: must be at least {minimum}")
    return number


def fraction(name: str, default: float) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperValue(f"{name}={value!r}: expected a number between 0 and 1") from None
    if not 0.0 <= number <= 1.0:
        raise ImproperValue(f"{name}={number}: expected a number between 0 and 1")
    return number


def seconds(name: str, default: float, *, minimum: float, maximum: float) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperValue(f"{name}={value!r}: expected a number of seconds") from None
    if not minimum <= number <= maximum:
        raise ImproperValue(f"{name}={number}: expected {minimum} to {maximum} seconds")
    return number


def choice(name: str, default: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    value = string(name, default)
    if value not in allowed:
        raise ImproperValue(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


def names(name: str, default: str, *, allowed: Iterable[str]) -> tuple[str, ...]:
    """A comma-separated list, each one of `allowed`; empty means none."""
    allowed = tuple(allowed)
    value = os.environ.get(name)
    value = default if value is None else value
    items = tuple(item.strip() for item in value.split(",") if item.strip())
    for item in items:
        if item not in allowed:
            raise ImproperValue(f"{name}: {item!r} is not one of {', '.join(allowed)}")
    return items


def day(name: str) -> date | None:
    """An ISO date (2026-02-13), or None when unset."""
    value = _raw(name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ImproperValue(f"{name}={value!r}: expected a date as YYYY-MM-DD") from None


def database(name: str, default_sqlite_path: str, *, conn_max_age: int = 0) -> dict:
    """A database from its URL. `conn_max_age`: seconds a web process keeps its connection between
    requests (checked before reuse, so a connection the server dropped is replaced, not used)."""
    value = _raw(name)
    url = value if value is not None else f"sqlite:///{default_sqlite_path}"
    try:
        config = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=conn_max_age > 0)
    except Exception as exc:
        raise ImproperValue(f"{name}={url!r}: not a database URL ({exc})") from None
    engine = config["ENGINE"]
    if engine not in {"django.db.backends.sqlite3", "django.db.backends.postgresql"}:
        raise ImproperValue(f"{name}: beian runs on SQLite or PostgreSQL, not {engine}")
    if engine == "django.db.backends.sqlite3":
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # WAL and a busy timeout let the web server and the workers share the file without
        # "database is locked" errors; IMMEDIATE makes every transaction take the write lock up
        # front, so two writers queue instead of deadlocking on lock upgrade.
        config["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


def replica(name: str, primary: dict, *, mirror: str, conn_max_age: int = 0) -> dict | None:
    """A read replica of the `primary` database (alias `mirror`) from its URL, or None when none is
    set. PostgreSQL only, of a PostgreSQL primary (a streaming standby, read-only). What reads it
    turns to the primary when the replica cannot be reached, so it connects with a short timeout.
    In tests it is the primary's own database (Django's MIRROR), never a test database of its own."""
    if _raw(name) is None:
        return None
    config = database(name, "", conn_max_age=conn_max_age)
    if config["ENGINE"] != "django.db.backends.postgresql" or primary["ENGINE"] != config["ENGINE"]:
        raise ImproperValue(f"{name}: a replica is a PostgreSQL standby of a PostgreSQL primary")
    config.setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
    config["TEST"] = {"MIRROR": mirror}
    return config


def cache(name: str) -> dict:
    """Django's cache: local memory by default (each process its own), or Redis from a URL
    (`redis://host:6379/0`, `rediss://…`, `unix:///path/redis.sock`) through Django's RedisCache."""
    value = _raw(name)
    if value is None or value == "locmem://":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "beian"}
    if value.startswith(("redis://", "rediss://", "unix://")):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": value}
    raise ImproperValue(f"{name}={value!r}: expected a redis://, rediss:// or unix:// URL, or locmem://")


def networks(name: str, default: str = "") -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated addresses or CIDR blocks (`10.0.0.0/8, 2001:db8::/32, 127.0.0.1`; an address
    alone is its /32 or /128); `default` when unset."""
    value = _raw(name)
    if value is None:
        value = default
    found = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            # 10.0.0.1/8 is refused, not widened to 10.0.0.0/8: a typo must not trust a whole network.
            found.append(ipaddress.ip_network(part))
        except ValueError:
            raise ImproperValue(f"{name}: {part!r} is not an address or a CIDR block") from None
    return tuple(found)


_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")


def secret_bytes(name: str, value: str, *, length: int) -> bytes:
    """A key given in base64 (standard or URL-safe, padded or not) that must be `length` bytes."""
    try:
        raw = base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error):
        raise ImproperValue(f"{name}: not base64") from None
    if len(raw) != length:
        raise ImproperValue(f"{name}: a key of {length} bytes is needed, got {len(raw)}")
    return raw


def key(name: str, *, length: int) -> bytes:
    """One key in base64; unset, empty bytes."""
    value = _raw(name)
    return b"" if value is None else secret_bytes(name, value, length=length)


def data_keys(name: str) -> tuple[tuple[str, bytes], ...]:
    """`id:base64key, id:base64key, …` (32-byte AES-256 keys), the first the current one; an unset
    variable is an empty tuple. Ids are short, unique, and made of letters, digits, `_` and `-`."""
    value = _raw(name)
    if value is None:
        return ()
    keys: list[tuple[str, bytes]] = []
    for item in value.split(","):
        key_id, sep, key = item.strip().partition(":")
        if not sep or not _KEY_ID.fullmatch(key_id):
            raise ImproperValue(f"{name}: each key reads id:base64key with an id of letters, digits, _ or -")
        if any(key_id == known for known, _ in keys):
            raise ImproperValue(f"{name}: the key id {key_id!r} is given twice")
        keys.append((key_id, secret_bytes(f"{name} ({key_id})", key.strip(), length=32)))
    return tuple(keys)
