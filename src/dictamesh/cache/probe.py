"""Is the shared cache reachable? A read-only probe of ``cache.redis_url`` (``dictamesh check``).

Example::

    result = await probe_redis(settings.cache.redis_url.get_secret_value(), timeout=5.0)
    result.detail        # 'redis://127.0.0.1:6379/0: PING answered'
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from dictamesh.core.checks import CheckResult, CheckStatus, elapsed_ms
from dictamesh.core.errors import DictaMeshError

__all__ = ["probe_redis"]

CHECK = "redis"


def _shown(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


async def probe_redis(url: str, *, timeout: float) -> CheckResult:
    """``PING`` within ``timeout`` seconds (the URL's password is used, never shown)."""
    from dictamesh.cache.redis import RedisCache

    shown = _shown(url)
    started = time.perf_counter()
    try:
        cache = RedisCache(url)
    except DictaMeshError as exc:  # redis not installed, a malformed URL
        return CheckResult(CHECK, CheckStatus.FAIL, f"{shown}: {exc.message}")
    except ValueError as exc:
        return CheckResult(CHECK, CheckStatus.FAIL, f"{shown}: {exc}")
    try:
        async with asyncio.timeout(timeout):
            await cache.ping()
    except TimeoutError:
        return CheckResult(
            CHECK, CheckStatus.FAIL, f"{shown}: no answer within {timeout:g} s", elapsed_ms(started)
        )
    except Exception as exc:  # CacheUnavailable, an authentication error, ...
        message = exc.message if isinstance(exc, DictaMeshError) else f"{type(exc).__name__}: {exc}"
        return CheckResult(CHECK, CheckStatus.FAIL, f"{shown}: {message}", elapsed_ms(started))
    finally:
        await cache.aclose()
    return CheckResult(CHECK, CheckStatus.OK, f"{shown}: PING answered", elapsed_ms(started))
