"""SigV4 with the signing key derived once a day, not once a request.

A SigV4 signature is an HMAC of the request under a *signing key*, and that key
depends on nothing but the secret key, the UTC date, the region and the
service: ``HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
"aws4_request")``. botocore's ``SigV4Auth`` derives it again for every request:
four HMAC-SHA256 rounds in Python, about 100 k instructions a call, 5.8 % of a
no-op activity task's client-side CPU (bench/README.md, "The worker's
per-task path"). AWS's own SDKs for Java and Go keep the derived key for the
day; :class:`CachedKeySigV4Auth` does the same and is otherwise botocore's
signer: the canonical request, the string to sign, the headers and the final
HMAC are botocore's code, so the signature is byte for byte the one botocore
would send (tests/test_signing.py compares them).

How it is plugged in, through botocore's public hooks only: the class is added
to ``botocore.auth.AUTH_TYPE_MAPS`` under its own name (an addition, no
existing signer is replaced, so other clients in the process are untouched),
and each swfd client answers its ``choose-signer`` event with that name where
botocore would sign with plain SigV4. Anything else (an unsigned operation,
SigV4a, an unsigned payload) is left to botocore.

Rotating credentials (an instance profile, an assumed role) change the secret,
which is part of the cache key, so a new key is derived with them; so is the
date at midnight UTC. The cache holds a few keys, never the request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import Any

import botocore.auth

SIGNER_NAME = "swfd-v4"


@functools.lru_cache(maxsize=8)
def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key for ``date`` (``YYYYMMDD``), as botocore derives it."""
    key = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class CachedKeySigV4Auth(botocore.auth.SigV4Auth):
    """botocore's SigV4 signer, with the day's signing key taken from :func:`signing_key`."""

    def signature(self, string_to_sign: str, request: Any) -> str:
        key = signing_key(self.credentials.secret_key, request.context["timestamp"][0:8],
                          self._region_name, self._service_name)
        return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def choose_cached_key_signer(signature_version: Any = None, context: dict | None = None,
                             **_: Any) -> str | None:
    """``choose-signer`` handler: plain SigV4 becomes :data:`SIGNER_NAME`; any other
    choice (and any operation with its own auth type) is botocore's to make."""
    context = context or {}
    if signature_version != "v4" or context.get("auth_type") not in (None, "v4"):
        return None
    if context.get("unsigned_payload"):
        return None
    return SIGNER_NAME


def use_cached_key_signer(client: Any) -> None:
    """Make ``client`` sign with :class:`CachedKeySigV4Auth` (idempotent)."""
    botocore.auth.AUTH_TYPE_MAPS.setdefault(SIGNER_NAME, CachedKeySigV4Auth)
    service_id = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"choose-signer.{service_id}", choose_cached_key_signer,
                                      unique_id="swfd-cached-key-signer")
