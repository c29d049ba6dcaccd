"""API keys: which key may go to which endpoint, and keeping keys out of everything stored or shown.

A key typed by the user goes to the base URL they typed it for. A key from the environment goes only where it was
meant to: PRISM_API_KEY to the URL in PRISM_API_BASE_URL (the user confirms the pair by setting both), OPENAI_API_KEY
to api.openai.com. An endpoint that echoes its request (the Authorization header) in an error would otherwise put
the key into the request cache, the candidates table and the UI: every text from an endpoint is redacted first.
"""
from __future__ import annotations

import os
import re
from urllib.parse import urlparse

_TOKENS = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+|\bsk-[A-Za-z0-9_\-]{6,}|((?:api[_-]?key|authorization|token)"
                     r"[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)[^\s\"',;}]+")


def redact(text: str | None, *secrets: str | None) -> str | None:
    """The text with the given secrets and anything that looks like a bearer token or an sk- key masked."""
    if text is None:
        return None
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return _TOKENS.sub(lambda m: (m.group(1) or m.group(2) or "") + "[redacted]", text)


def same_endpoint(a: str, b: str) -> bool:
    pa, pb = urlparse(a.rstrip("/")), urlparse(b.rstrip("/"))
    return (pa.scheme, pa.hostname, pa.port, pa.path.rstrip("/")) == (pb.scheme, pb.hostname, pb.port,
                                                                      pb.path.rstrip("/"))


def environment_key(base_url: str) -> str | None:
    """The environment's key for this base URL, or None when the environment has none meant for it."""
    key, meant_for = os.environ.get("PRISM_API_KEY"), os.environ.get("PRISM_API_BASE_URL")
    if key and meant_for and same_endpoint(meant_for, base_url):
        return key
    openai_key = os.environ.get("OPENAI_API_KEY")
    if openai_key and urlparse(base_url).hostname == "api.openai.com":
        return openai_key
    return None


def environment_key_notice(base_url: str) -> str | None:
    """Why a key in the environment is not used for this URL (shown to the user), or None."""
    if os.environ.get("PRISM_API_KEY") and environment_key(base_url) is None:
        where = os.environ.get("PRISM_API_BASE_URL")
        return ("PRISM_API_KEY is set but not sent to " + base_url + (f": it is for {where}" if where else
                ": set PRISM_API_BASE_URL to the endpoint it belongs to"))
    return None
