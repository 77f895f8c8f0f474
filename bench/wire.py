"""A light SWF client: http.client with keep-alive and SigV4 signed by hand.

The endpoint figures must measure the server, so the load comes from this
client rather than boto3 (whose per-call CPU would make the client the
bottleneck on two cores). Both servers accept any credentials; the requests
are signed properly all the same, as a real SWF client signs them.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import json
from urllib.parse import urlsplit

REGION = "us-east-1"
KEY_ID = "bench"
SECRET = "bench"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class WireError(Exception):
    def __init__(self, status: int, body: bytes, operation: str) -> None:
        super().__init__(f"{operation}: HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body


class WireClient:
    """One keep-alive connection; ``call(operation, params) -> dict``. Not thread-safe."""

    def __init__(self, url: str, timeout: float = 90.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.hostport = f"{self.host}:{self.port}"
        self.timeout = timeout
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self._keys: dict[str, bytes] = {}

    def _signing_key(self, day: str) -> bytes:
        key = self._keys.get(day)
        if key is None:
            key = _hmac(_hmac(_hmac(_hmac(("AWS4" + SECRET).encode(), day), REGION), "swf"),
                        "aws4_request")
            self._keys = {day: key}
        return key

    def headers(self, operation: str, body: bytes) -> dict[str, str]:
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        target = f"SimpleWorkflowService.{operation}"
        payload_hash = hashlib.sha256(body).hexdigest()
        canonical = (f"POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:{self.hostport}\n"
                     f"x-amz-date:{stamp}\nx-amz-target:{target}\n\n"
                     f"content-type;host;x-amz-date;x-amz-target\n{payload_hash}")
        scope = f"{day}/{REGION}/swf/aws4_request"
        to_sign = (f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n"
                   f"{hashlib.sha256(canonical.encode()).hexdigest()}")
        signature = hmac.new(self._signing_key(day), to_sign.encode(),
                             hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": target,
            "X-Amz-Date": stamp,
            "Authorization": (f"AWS4-HMAC-SHA256 Credential={KEY_ID}/{scope}, SignedHeaders="
                              f"content-type;host;x-amz-date;x-amz-target, "
                              f"Signature={signature}"),
        }

    def send(self, operation: str, params: dict) -> None:
        """Send a request without reading the answer (see ``receive``)."""
        body = json.dumps(params).encode()
        self._operation = operation
        try:
            self.conn.request("POST", "/", body, self.headers(operation, body))
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()  # a dropped keep-alive connection: reconnect once
            self.conn.request("POST", "/", body, self.headers(operation, body))

    def receive(self) -> dict:
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise WireError(response.status, data, self._operation)
        return json.loads(data) if data else {}

    def call(self, operation: str, params: dict) -> dict:
        self.send(operation, params)
        return self.receive()

    def close(self) -> None:
        self.conn.close()
