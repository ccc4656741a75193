"""The broker: its URL (rendered from the lab, masked for messages), Redis clients, the Celery app.

One Redis serves as the Celery broker (one queue per site, `queue_name`) and as the channel for
events, heartbeats and cancellation (`channel.py`). celery and redis are imported lazily: they
are the optional `runbook[sites]` extra.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from runbook.errors import BrokerError, ConfigError

if TYPE_CHECKING:
    from celery import Celery
    from redis import Redis
    from redis.asyncio import Redis as AsyncRedis

    from runbook.hosts.lab import Lab
    from runbook.render.secrets import SecretStore

TASK_NAME = "runbook.sites.run_share"
QUEUE_PREFIX = "runbook.site."
CONNECT_TIMEOUT = 5.0
EXTRA_HINT = "multi-site runs need the sites extra: pip install 'runbook[sites]'"

_PASSWORD = re.compile(r"(?P<head>[a-z]+://[^:/@]*:)(?P<password>[^@]*)(?P<at>@)")


def queue_name(site: str) -> str:
    """The Celery queue a site's workers consume."""
    return QUEUE_PREFIX + site


def mask_url(url: str, mask: Any = None) -> str:
    """`url` with its password shown as `***` (and any known secret masked by `mask`)."""
    text = _PASSWORD.sub(lambda m: f"{m['head']}***{m['at']}" if m["password"] else m[0], url)
    return mask(text) if callable(mask) else text


def broker_url(lab: Lab, secrets: SecretStore) -> str:
    """The lab's `broker`, rendered with `secrets` (the environment of this process)."""
    from runbook.errors import TemplateError
    from runbook.render.templating import Templater

    if lab.broker is None:
        raise ConfigError(f"lab {lab.path} has no `broker`: sites need one (docs/sites.md)")
    try:
        return Templater(secrets).render(lab.broker, dict(lab.vars))
    except TemplateError as exc:
        raise ConfigError(f"lab {lab.path}: broker: {getattr(exc, 'problem', exc)}") from None


def require_extra() -> None:
    """`ConfigError` with the install hint when celery or redis is missing."""
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"{EXTRA_HINT} ({exc})") from None


def sync_client(url: str) -> Redis:
    """A blocking Redis client with bounded connect and read times."""
    require_extra()
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT,
                                socket_timeout=CONNECT_TIMEOUT * 2, health_check_interval=10)


def async_client(url: str) -> AsyncRedis:
    """An asyncio Redis client with a bounded connect time (reads set their own timeouts)."""
    require_extra()
    from redis.asyncio import Redis as AsyncRedis

    client: AsyncRedis = AsyncRedis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)
    return client


def check_reachable(url: str, mask: Any = None) -> None:
    """PING the broker; `BrokerError` naming the (masked) URL when it does not answer."""
    client = sync_client(url)
    try:
        client.ping()
    except Exception as exc:  # redis.ConnectionError, TimeoutError, AuthenticationError
        raise BrokerError(f"broker {mask_url(url, mask)} unreachable: {exc}") from None
    finally:
        client.close()


def celery_app(url: str) -> Celery:
    """A Celery app on the broker: JSON only, no result backend (results travel as events),
    a task acknowledged when taken (a share is never run twice)."""
    require_extra()
    from celery import Celery

    broker, use_ssl = _tls_options(url)
    app = Celery("runbook", broker=broker, set_as_current=False)
    app.conf.update(broker_use_ssl=use_ssl)
    app.conf.update(
        task_serializer="json", accept_content=["json"], result_serializer="json",
        task_ignore_result=True, worker_prefetch_multiplier=1, task_acks_late=False,
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": 24 * 3600},
        task_default_queue=QUEUE_PREFIX + "default", worker_send_task_events=False,
        broker_connection_timeout=CONNECT_TIMEOUT)
    return app


TLS_PARAMS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


def _tls_options(url: str) -> tuple[str, dict[str, Any] | None]:
    """For `rediss://`: the URL without its TLS query parameters, and Celery's
    `broker_use_ssl` verifying the server (kombu alone would not verify it at all).
    `?ssl_ca_certs=PATH` (and `ssl_certfile` / `ssl_keyfile` for client certificates) are
    honoured the same way by the controller's and the workers' Redis clients."""
    import ssl
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    if not url.startswith("rediss://"):
        return url, None
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    options.update({k: v for k, v in query if k in TLS_PARAMS})
    rest = urlencode([(k, v) for k, v in query if k not in TLS_PARAMS])
    return urlunsplit(parts._replace(query=rest)), options
