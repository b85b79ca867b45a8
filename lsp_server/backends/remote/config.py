"""What a remote backend's settings mean: the API key, extra request fields and the FIM
template, each checked when the backend opens so that a mistake is one clear load error."""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

from fim.formats import STARCODER, TEMPLATES, FimFormat, detect_format, format_for_model_name

from .http import HttpClient

if TYPE_CHECKING:
    from ...settings import Settings

log = logging.getLogger("bigcode_ls")


class RemoteConfigError(ValueError):
    """Settings that cannot work (no API key in the named variable, bad extra fields, a
    model the server does not serve)."""


def read_api_key(env_name: str) -> str | None:
    if not env_name:
        return None
    key = (os.environ.get(env_name) or "").strip()  # a key file's line end is no part of it
    if not key:
        raise RemoteConfigError(f"remoteApiKeyEnv names {env_name}, which is not set")
    if not key.isascii() or not key.isprintable() or " " in key:
        raise RemoteConfigError(  # never the key itself: it would reach logs and pop-ups
            f"the API key in {env_name} has characters an HTTP header cannot carry "
            "(spaces, control characters or non-ASCII)"
        )
    return key


def http_client(settings: Settings) -> HttpClient:
    """A connection to the remote server the settings name, with its key."""
    key = read_api_key(settings.remote_api_key_env)
    return HttpClient(
        settings.remote_url,
        settings.remote_timeout_ms / 1000,
        verify_tls=settings.remote_tls_verify,
        headers={"Authorization": f"Bearer {key}"} if key else None,
        secrets=(key,) if key else (),
    )


def read_extra(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        extra = json.loads(text)
    except ValueError as exc:
        raise RemoteConfigError(f"remoteExtra is not JSON: {exc}") from None
    if not isinstance(extra, dict):
        raise RemoteConfigError("remoteExtra must be a JSON object")
    return extra


def choose_template(settings: Settings, vocabulary) -> FimFormat | None:
    """The FIM template: the setting, else what the tokenizer has, else the model name."""
    if settings.fim_template != "auto":
        return TEMPLATES[settings.fim_template]
    if vocabulary is not None:
        return detect_format(vocabulary)
    by_name = format_for_model_name(settings.remote_model)
    if by_name is None:
        log.info("FIM template: starcoder (nothing in the model name says otherwise)")
    return by_name or STARCODER
