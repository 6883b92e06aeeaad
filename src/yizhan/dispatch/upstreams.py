"""The HTTP upstream channels of a channel file: kinds `aliyun`, `tencent` and `twilio`
(docs/channels.md "Cloud providers and other Yizhans").

Reads one `[[channel]]`'s settings into the provider's settings and the settings every
upstream shares (`UpstreamSettings`), refusing an unknown or missing one with a message
naming it; `channel_file.py` checks a plan with it and builds the channels with it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from yizhan.dispatch.channels.aliyun_upstream import AliyunProvider, AliyunSettings
from yizhan.dispatch.channels.http_upstream import (
    HttpUpstreamChannel,
    Provider,
    UpstreamSettings,
    provider_data,
)
from yizhan.dispatch.channels.tencent import TencentProvider, TencentSettings
from yizhan.dispatch.channels.twilio import TwilioProvider, TwilioSettings
from yizhan.domain.codes import CodeTable
from yizhan.domain.ports import Clock

PROVIDERS: dict[str, tuple[type[Any], type[Any]]] = {
    "aliyun": (AliyunSettings, AliyunProvider),
    "tencent": (TencentSettings, TencentProvider),
    "twilio": (TwilioSettings, TwilioProvider),
}
"""Kind -> (its settings, its provider)."""
SECRETS = frozenset({"access_key_secret", "secret_key", "auth_token"})
"""Settings never shown (`yizhan channels list`) nor logged."""


def default_url(kind: str) -> str:
    """Where a channel of `kind` sends without `url`: the provider's public endpoint."""
    settings_type = PROVIDERS[kind][0]
    return str(next(f.default for f in dataclasses.fields(settings_type) if f.name == "url"))


def upstream_parts(kind: str, options: dict[str, Any]) -> tuple[Provider, UpstreamSettings]:
    """The provider and shared settings of a channel of `kind`; ValueError naming what is
    wrong."""
    settings_type, provider_type = PROVIDERS[kind]
    own = {f.name for f in dataclasses.fields(settings_type)}
    shared = {f.name for f in dataclasses.fields(UpstreamSettings)}
    extra = set(options) - own - shared
    if extra:
        raise ValueError(f"unknown setting(s) {', '.join(sorted(extra))}")
    required = {f.name for f in dataclasses.fields(settings_type)
                if f.default is dataclasses.MISSING}
    missing = required - set(options)
    if missing:
        raise ValueError(f"missing setting(s) {', '.join(sorted(missing))}")
    values = {k: v for k, v in options.items() if k in own}
    if not all(isinstance(v, str) for v in values.values()):
        raise ValueError(f"{', '.join(sorted(own))} must be strings")
    url = urlsplit(values.get("url", "https://default"))
    if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
        raise ValueError(f"url {values['url']!r} must be http(s)://host[:port][/path]")
    common = {k: v for k, v in options.items() if k in shared}
    networks = common.get("allow_networks", [])
    if not isinstance(networks, list):
        raise ValueError("allow_networks must be a list of networks "
                         "(allow_networks = [\"127.0.0.0/8\"])")
    for network in networks:
        ipaddress.ip_network(str(network))  # ValueError names it
    common["allow_networks"] = tuple(str(n) for n in networks)
    token = common.get("callback_token", "")
    if token and (not isinstance(token, str) or len(token) < 16
                  or not token.replace("-", "").replace("_", "").isalnum()):
        raise ValueError("callback_token must be 16 or more letters, digits, - or _ "
                         "(it authenticates the provider's pushes)")
    if "codes" in common:
        path = common["codes"]
        if not isinstance(path, str):
            raise ValueError("codes must name a code table file")
        common["codes"] = CodeTable.load(Path(path))
    else:
        common["codes"] = CodeTable.from_data(provider_data(kind), kind)
    return provider_type(settings_type(**values)), UpstreamSettings(**common)


def upstream_channel(name: str, kind: str, options: dict[str, Any],
                     clock: Clock) -> HttpUpstreamChannel:
    provider, settings = upstream_parts(kind, options)
    return HttpUpstreamChannel(name, provider, settings, clock)
