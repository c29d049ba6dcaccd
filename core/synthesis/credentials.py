"""API keys: which key may go to which endpoint, and keeping keys out of everything stored or shown.

A key typed by the user goes to the base URL they typed it for. A key from the environment goes only where it was
meant to: PRISM_API_KEY to the URL in PRISM_API_BASE_URL (the user confirms the pair by setting both), OPENAI_API_KEY
to api.openai.com. An endpoint that echoes its request (the Authorization header) in an error would otherwise put
the key into the request cache, the candidates table and the UI: every text from an endpoint is redacted first,
a good reply as much as an error. An error is masked broadly (`redact`: anything shaped like a key, `token=...`
included); a reply is masked narrowly (`redact_reply`: the keys in use and unambiguous key shapes only, `Bearer`
followed by a token with a digit, `sk-` and 16 more key characters), so "token = 5" in a math problem stays intact.

The keys in use are known to this process: each generator registers its key (`register_secret`), and the
environment's PRISM_API_KEY and OPENAI_API_KEY count too; both redactions mask every one of them, and so does the
CLI's output. A known key shorter than 8 characters ('unused', 'none': a placeholder for a server that checks no key)
is not masked in replies or output, where masking it would mangle ordinary words.
"""
from __future__ import annotations

import os
import re
from urllib.parse import urlparse

MIN_KNOWN_SECRET = 8
_KNOWN: set[str] = set()  # keys generators of this process were given (in memory only, like the generators)
_REPLY_SHAPES = re.compile(r"(?i)\bbearer\s+(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}|\bsk-[A-Za-z0-9_-]{16,}")
_TOKENS = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+|\bsk-[A-Za-z0-9_\-]{6,}|((?:api[_-]?key|authorization|token)"
                     r"[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)[^\s\"',;}]+")


def register_secret(secret: str | None) -> None:
    """A key this process sends somewhere: from now on every redaction masks it."""
    if secret and len(secret) >= MIN_KNOWN_SECRET:
        _KNOWN.add(secret)


def known_secrets() -> list[str]:
    """The registered keys and the environment's, longest first (a key inside another is masked with it)."""
    env = (os.environ.get("PRISM_API_KEY"), os.environ.get("OPENAI_API_KEY"))
    found = set(_KNOWN) | {k for k in env if k and len(k) >= MIN_KNOWN_SECRET}
    return sorted(found, key=len, reverse=True)


def _mask(text: str, secrets, minimum: int) -> str:
    for secret in sorted({s for s in secrets if s and len(s) >= minimum}, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


def redact(text: str | None, *secrets: str | None) -> str | None:
    """An error text with the given secrets, the known keys and anything that looks like a key masked."""
    if text is None:
        return None
    text = _mask(_mask(text, secrets, 4), known_secrets(), MIN_KNOWN_SECRET)
    return _TOKENS.sub(lambda m: (m.group(1) or m.group(2) or "") + "[redacted]", text)


def redact_reply(text: str | None, *secrets: str | None) -> str | None:
    """A reply's text (or any text that is not an error: output, a summary) with the keys masked: the given and
    known ones, exactly, and the unambiguous key shapes (Bearer + a token with a digit, sk- + 16 key characters)."""
    if text is None:
        return None
    text = _mask(text, [*secrets, *known_secrets()], MIN_KNOWN_SECRET)
    return _REPLY_SHAPES.sub("[redacted]", text)


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
