"""Light SWF clients: SigV4 signed by hand, over http.client (``WireClient``) or a bare
keep-alive socket (``RawClient``, figure 7d's featherweight client).

The endpoint figures must measure the server, so the load comes from these
clients rather than boto3 (whose per-call CPU would make the client the
bottleneck on two cores). Both servers accept any credentials; the requests
are signed properly all the same, as a real SWF client signs them.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import json
import socket
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


class Signer:
    """SigV4 for SWF's JSON protocol, by hand: the signing key is derived once a day, so a
    request costs two SHA-256 digests and one HMAC."""

    def __init__(self, hostport: str) -> None:
        self.hostport = hostport
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


class WireClient:
    """One keep-alive connection; ``call(operation, params) -> dict``. Not thread-safe."""

    def __init__(self, url: str, timeout: float = 90.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.hostport = f"{self.host}:{self.port}"
        self.timeout = timeout
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self.signer = Signer(self.hostport)
        self.headers = self.signer.headers

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


class RawClient:
    """A featherweight client: one keep-alive socket, requests written whole, answers read
    by Content-Length (no http.client, no header objects). ``call`` as WireClient's.

    For the endpoint's ceiling: it costs a fraction of the server's CPU per call, so a
    few of them saturate the server. It understands only what the endpoint answers
    (HTTP/1.1, Content-Length, no chunking). Not thread-safe."""

    def __init__(self, url: str, timeout: float = 90.0) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.timeout = timeout
        self.signer = Signer(f"{self.address[0]}:{self.address[1]}")
        self.sock: socket.socket | None = None
        self._buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self._buffer = sock, b""
        return sock

    def call(self, operation: str, params: dict) -> dict:
        body = json.dumps(params).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in self.signer.headers(operation, body).items())
        request = (f"POST / HTTP/1.1\r\nHost: {self.signer.hostport}\r\n{head}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        sock = self.sock or self._connect()
        sock.sendall(request)
        status, data = self._receive(sock, operation)
        if status != 200:
            raise WireError(status, data, operation)
        return json.loads(data) if data else {}

    def _receive(self, sock: socket.socket, operation: str) -> tuple[int, bytes]:
        buffer = self._buffer
        for _ in range(10_000):
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = sock.recv(65536)
            if not chunk:
                self.close()
                raise ConnectionError(f"{operation}: the endpoint closed the connection")
            buffer += chunk
        else:
            raise WireError(0, buffer[:300], operation)
        head = buffer[:end].decode("latin-1")
        status = int(head[9:12])
        at = head.lower().find("content-length:")
        length = int(head[at + 15:head.index("\r\n", at)]) if at >= 0 else 0
        start = end + 4
        while len(buffer) < start + length:
            chunk = sock.recv(max(65536, start + length - len(buffer)))
            if not chunk:
                self.close()
                raise ConnectionError(f"{operation}: the endpoint closed mid-answer")
            buffer += chunk
        self._buffer = buffer[start + length:]
        return status, buffer[start:start + length]

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self._buffer = None, b""
