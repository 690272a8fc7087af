"""Where the HTTP client connects and how it authenticates.

`HttpConfig` is plain data plus one callable: the token provider. The provider is called
before every request, so a rotated in-cluster token (kubelet rewrites the projected file
about hourly) is picked up without a restart; called with `refresh=True` after a 401 it
reloads the configuration from scratch, which re-runs kubeconfig exec plugins.

Loading reuses the official `kubernetes` package's kubeconfig and in-cluster loaders and
nothing else of it: they handle contexts, embedded base64 data, exec and auth-provider
plugins and the service-account mount. The package is imported inside `load_config` only,
because importing it pulls in the whole generated client (about a second of start-up).
"""
from __future__ import annotations

import os
import ssl
from collections.abc import Callable

import msgspec

__all__ = ["HttpConfig", "TokenProvider", "load_config", "static_token", "ssl_context"]

TokenProvider = Callable[[bool], "str | None"]


def static_token(token: str | None, /) -> TokenProvider:
    """A provider that always returns `token` (tests, or a token given on the command line)."""
    return lambda refresh: token


class HttpConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Connection settings. `token` is called as `token(refresh)` and returns the bearer token.

    `qps`/`burst` shape the client-side token bucket (client-go's defaults are 5/10; Argo's
    controller raises them to 20/30, which we copy). `max_retries` bounds the retries of
    429 and retriable 5xx answers; `timeout` bounds each non-watch request.
    """

    server: str
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True
    token: TokenProvider = static_token(None)
    qps: float = 20.0
    burst: int = 30
    max_retries: int = 10
    timeout: float = 60.0
    accept_gzip: bool = False

    def __post_init__(self) -> None:
        if not self.server.startswith(("https://", "http://")):
            raise ValueError(f"HttpConfig.server: {self.server!r} is not an http(s) URL")
        if self.qps <= 0 or self.burst < 1:
            raise ValueError(f"HttpConfig: qps must be > 0 and burst >= 1 (got {self.qps}, {self.burst})")
        if self.max_retries < 0:
            raise ValueError(f"HttpConfig.max_retries: must be >= 0 (got {self.max_retries})")


def ssl_context(config: HttpConfig, /) -> ssl.SSLContext | None:
    """The TLS context for `config.server` (None for plain http)."""
    if not config.server.startswith("https://"):
        return None
    ctx = ssl.create_default_context(cafile=config.ca_cert)
    if not config.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if config.client_cert:
        ctx.load_cert_chain(config.client_cert, config.client_key)
    return ctx


def load_config(*, kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None,
                in_cluster: bool | None = None, qps: float = 20.0, burst: int = 30) -> HttpConfig:
    """Load from a kubeconfig (`$KUBECONFIG`, `~/.kube/config`) or the in-cluster mount.

    `in_cluster=None` means: in-cluster when no kubeconfig path is given and the pod's
    `KUBERNETES_SERVICE_HOST` is set, kubeconfig otherwise.
    """
    from kubernetes import client, config  # noqa: PLC0415 - heavy import, see module docstring

    if in_cluster is None:
        in_cluster = kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ

    def load() -> client.Configuration:
        cfg = client.Configuration()
        if in_cluster:
            config.load_incluster_config(client_configuration=cfg)
        else:
            config.load_kube_config(config_file=None if kubeconfig is None else os.fspath(kubeconfig),
                                    context=context, client_configuration=cfg)
        return cfg

    current = [load()]

    def token(refresh: bool) -> str | None:
        if refresh:
            current[0] = load()
        cfg = current[0]
        # kubernetes >= 31 stores the token under "BearerToken"; older ones under
        # "authorization". Either call also runs the refresh hook (rotated SA tokens).
        value = cfg.get_api_key_with_prefix("BearerToken", alias="authorization")
        if not value:
            return None
        return value[7:] if value[:7].lower() == "bearer " else value

    cfg = current[0]
    return HttpConfig(server=cfg.host.rstrip("/"), ca_cert=cfg.ssl_ca_cert, client_cert=cfg.cert_file,
                      client_key=cfg.key_file, verify=bool(cfg.verify_ssl), token=token, qps=qps,
                      burst=burst)
