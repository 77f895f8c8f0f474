"""Who may call the local endpoint: SigV4 verification when it has keys, the request's region.

Why: bound to loopback the endpoint accepts any credentials (a development
tool, one machine). Reachable from elsewhere (``--allow-remote``) anyone who
can connect could poll tasks, read payloads and terminate workflows, so a
remote endpoint requires keys and checks every request's signature the way
SWF does: botocore's own SigV4 signer recomputes it over the headers the
client signed, the clock skew must be within 15 minutes, a session token
(``X-Amz-Security-Token``, signed like any header) is accepted with the key it
came with. Failures answer as AWS does: ``MissingAuthenticationTokenException``,
``IncompleteSignatureException``, ``UnrecognizedClientException`` (unknown key
id) and ``InvalidSignatureException`` (wrong signature, expired, wrong scope).
Plain HTTP still carries payloads in clear on the wire; the signature only
proves who sent a request.

Keys come from, in addition to each other: ``--access-key-id`` with
``--secret-access-key`` (visible in ``ps``: prefer the others), the
environment (``SWFD_LOCAL_ACCESS_KEY_ID`` and ``SWFD_LOCAL_SECRET_ACCESS_KEY``)
and a keys file (``--keys-file``, ``[embedded] keys_file``): one
``ACCESS_KEY_ID SECRET_ACCESS_KEY`` pair per line, ``#`` comments, readable by
its owner only. Several pairs allow a rotation.

Without keys, only the region is read from the ``Authorization`` header (ARNs
name it); nothing is verified.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import os
import re
import stat
from collections.abc import Mapping

from swfd.local.faults import SWFFault

ENV_KEY_ID = "SWFD_LOCAL_ACCESS_KEY_ID"
ENV_SECRET = "SWFD_LOCAL_SECRET_ACCESS_KEY"
MAX_SKEW = datetime.timedelta(minutes=15)
SERVICE = "swf"
ALGORITHM = "AWS4-HMAC-SHA256"
# botocore's rule for region names (it refuses to sign for anything else).
_REGION = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$")
_KEY_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
             "Check your AWS Secret Access Key and signing method. Consult the service "
             "documentation for details.")


class KeysError(ValueError):
    """Keys given in a way the endpoint cannot use; the message says where and what."""


def load_keys(access_key_id: str | None = None, secret_access_key: str | None = None,
              keys_file: str | None = None,
              environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Every configured key pair, access key id -> secret (empty: verify nothing)."""
    keys: dict[str, str] = {}
    pairs = [("--access-key-id/--secret-access-key", access_key_id, secret_access_key),
             (f"{ENV_KEY_ID}/{ENV_SECRET}", environ.get(ENV_KEY_ID), environ.get(ENV_SECRET))]
    for where, key_id, secret in pairs:
        if not key_id and not secret:
            continue
        if not key_id or not secret:
            raise KeysError(f"{where}: give both the access key id and the secret, or neither")
        _add(keys, key_id, secret, where)
    if keys_file:
        for number, key_id, secret in _read_keys_file(keys_file):
            _add(keys, key_id, secret, f"{keys_file}:{number}")
    return keys


def _add(keys: dict[str, str], key_id: str, secret: str, where: str) -> None:
    if not _KEY_ID.match(key_id) or not secret or any(c.isspace() for c in secret):
        raise KeysError(f"{where}: expected an access key id (printable, no spaces) and a "
                        "secret without spaces")
    if keys.get(key_id, secret) != secret:
        raise KeysError(f"{where}: access key id {key_id} is given twice with two secrets")
    keys[key_id] = secret


def _read_keys_file(path: str) -> list[tuple[int, str, str]]:
    try:
        info = os.stat(path)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeysError(f"keys file {path}: cannot read it ({exc})") from None
    if info.st_mode & 0o077:
        raise KeysError(f"keys file {path}: mode {stat.S_IMODE(info.st_mode):04o} lets other "
                        "users read the secrets; chmod 600 it")
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2:
            raise KeysError(f"keys file {path}:{number}: expected 'ACCESS_KEY_ID "
                            f"SECRET_ACCESS_KEY', got {len(fields)} fields")
        pairs.append((number, fields[0], fields[1]))
    if not pairs:
        raise KeysError(f"keys file {path}: no key pair in it")
    return pairs


def region_of(authorization: str | None) -> str | None:
    """The region of a SigV4 ``Authorization`` header's credential scope, if it names one."""
    if not authorization:
        return None
    start = authorization.find("Credential=")
    if start < 0:
        return None
    scope = authorization[start + 11:].split(",", 1)[0].strip().split("/")
    if len(scope) == 5 and _REGION.match(scope[2]):
        return scope[2]
    return None


def _fault(code: str, message: str) -> SWFFault:
    return SWFFault(code, message, 400)


def _parse(authorization: str) -> dict[str, str]:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _fault("IncompleteSignatureException",
                     f"Unsupported Authorization Type: {algorithm[:40]!r}; use {ALGORITHM}")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, equals, value = item.strip().partition("=")
        if equals:
            parts[name] = value.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not parts.get(k)]
    if missing:
        raise _fault("IncompleteSignatureException",
                     f"Authorization header requires {', '.join(missing)}")
    return parts


class _Headers(dict):
    """The signed headers (lower-case names), in the shape botocore's signer reads."""

    def get_all(self, name: str) -> list[str]:
        return [self[name]]


class _Request:
    """What botocore's SigV4 signer reads of a request (an AWSRequest is heavier: it
    builds email.message headers; this is the server's hot path)."""

    __slots__ = ("body", "context", "headers", "method", "params", "url")

    def __init__(self, method: str, url: str, headers: _Headers, body: bytes,
                 stamp: str) -> None:
        self.method, self.url, self.headers, self.body = method, url, headers, body
        self.params: dict = {}
        self.context = {"timestamp": stamp}


class Verifier:
    """Checks a request's SigV4 signature against the configured keys."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        from botocore.auth import SigV4Auth  # only an endpoint with keys pays for the import

        self.keys = dict(keys)
        signing_keys: dict[tuple, bytes] = {}

        class _Exact(SigV4Auth):
            """botocore's signer over exactly the headers the client signed; the derived
            signing key is kept per (secret, day, region) rather than rederived per call."""

            def headers_to_sign(self, request):
                return request.headers

            def payload(self, request):
                return hashlib.sha256(request.body).hexdigest()

            def signature(self, string_to_sign, request):
                day = request.context["timestamp"][0:8]
                cache = (self.credentials.secret_key, day, self._region_name)
                key = signing_keys.get(cache)
                if key is None:
                    if len(signing_keys) > 64:
                        signing_keys.clear()
                    key = self._sign(f"AWS4{cache[0]}".encode(), day)
                    for part in (self._region_name, self._service_name, "aws4_request"):
                        key = self._sign(key, part)
                    signing_keys[cache] = key
                return self._sign(key, string_to_sign, hex=True)

        self._signer = _Exact

    def verify(self, method: str, path: str, headers: Mapping[str, str], body: bytes,
               now: datetime.datetime | None = None) -> str:
        """Raise the SWF-shaped fault AWS would answer, or return the request's region.
        ``headers`` has lower-case names."""
        from botocore.credentials import Credentials

        authorization = headers.get("authorization")
        if not authorization:
            raise _fault("MissingAuthenticationTokenException", "Missing Authentication Token")
        parts = _parse(authorization)
        scope = parts["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise _fault("IncompleteSignatureException",
                         "Credential must have exactly 5 slash-delimited elements, e.g. "
                         "keyid/date/region/service/term")
        key_id, day, region, service = scope[:4]
        secret = self.keys.get(key_id)
        if secret is None:
            raise _fault("UnrecognizedClientException",
                         "The security token included in the request is invalid.")
        if service != SERVICE:
            raise _fault("InvalidSignatureException",
                         f"Credential should be scoped to correct service: '{SERVICE}'.")
        if not _REGION.match(region):
            raise _fault("InvalidSignatureException",
                         "Credential should be scoped to a valid region.")
        stamp = headers.get("x-amz-date", "")
        when = _parse_stamp(stamp)
        signed = parts["SignedHeaders"].split(";")
        if "host" not in signed or "x-amz-date" not in signed:
            raise _fault("InvalidSignatureException",
                         "'Host' and 'X-Amz-Date' must be among the signed headers.")
        if day != stamp[:8]:
            raise _fault("InvalidSignatureException",
                         f"Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                         f"version of date from HTTP: '{day}' != '{stamp[:8]}', from '{stamp}'.")
        current = now or datetime.datetime.now(datetime.timezone.utc)
        _check_skew(when, current)
        missing = [name for name in signed if name not in headers]
        if missing:
            raise _fault("IncompleteSignatureException",
                         f"Signed header {missing[0]!r} is not in the request")
        claimed = headers.get("x-amz-content-sha256")
        if claimed is not None and claimed != hashlib.sha256(body).hexdigest():
            raise _fault("InvalidSignatureException", "The provided 'x-amz-content-sha256' "
                         "header does not match what was computed.")
        request = _Request(method, f"http://{headers['host']}{path}",
                           _Headers((name, headers[name]) for name in signed), body, stamp)
        signer = self._signer(Credentials(key_id, secret, headers.get("x-amz-security-token")),
                              SERVICE, region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, parts["Signature"]):
            raise _fault("InvalidSignatureException", _MISMATCH)
        return region


def _parse_stamp(stamp: str) -> datetime.datetime:
    """``20240101T000000Z`` (X-Amz-Date) as an aware datetime."""
    try:
        if len(stamp) != 16 or stamp[8] != "T" or stamp[15] != "Z":
            raise ValueError(stamp)
        return datetime.datetime(int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]),
                                 int(stamp[9:11]), int(stamp[11:13]), int(stamp[13:15]),
                                 tzinfo=datetime.timezone.utc)
    except ValueError:
        raise _fault("IncompleteSignatureException",
                     "Authorization header requires existence of either a 'X-Amz-Date' "
                     "or a 'Date' header.") from None


def _check_skew(when: datetime.datetime, current: datetime.datetime) -> None:
    def fmt(moment: datetime.datetime) -> str:
        return moment.strftime("%Y%m%dT%H%M%SZ")

    if when < current - MAX_SKEW:
        raise _fault("InvalidSignatureException",
                     f"Signature expired: {fmt(when)} is now earlier than "
                     f"{fmt(current - MAX_SKEW)} ({fmt(current)} - 15 min.)")
    if when > current + MAX_SKEW:
        raise _fault("InvalidSignatureException",
                     f"Signature not yet current: {fmt(when)} is still later than "
                     f"{fmt(current + MAX_SKEW)} ({fmt(current)} + 15 min.)")
