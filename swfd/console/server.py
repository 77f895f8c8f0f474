"""The console's HTTP server: the standard library's, one thread per request.

Safety, since the pages show payloads and (with ``--allow-actions``) change
executions:

- it binds loopback unless told otherwise (``--allow-remote``: it has no login);
- every request's ``Host`` must be an IP literal or ``localhost`` on the port it
  serves, so a DNS-rebinding page cannot read it from a browser;
- every response carries a Content-Security-Policy (``default-src 'self'``, no
  inline script or style), ``X-Frame-Options: DENY`` and ``no-store``;
- actions are POSTs only, refused unless ``--allow-actions``, and need the CSRF
  token of the form the console rendered: an HMAC, under a per-process secret,
  of a random cookie set with ``SameSite=Strict``. A cross-site ``Origin`` is
  refused too. Each action first answers with a page asking to confirm.

Errors (endpoint down, throttling, an unknown execution) render as a page
naming what failed, with an HTTP status to match; never a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import secrets
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from swfd.console import data
from swfd.console.data import Filters, Histories
from swfd.console.events import FAMILIES, MAX_PAGE, View
from swfd.console.pages import Page, execution_link
from swfd.swf.models import CLOSED, OPEN, DoesNotExist, NotAnSWFReply, retry_bounds

log = logging.getLogger("swfd.console")

COOKIE = "swfd_console"
MAX_BODY = 64 * 1024
MAX_PAGE_SIZE = 1000
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer browsers post forms with "Origin: null".
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
ACTIONS = ("signal", "cancel", "terminate")
ERROR_STATUS = {
    "UnknownResourceFault": HTTPStatus.NOT_FOUND,
    "ThrottlingException": HTTPStatus.SERVICE_UNAVAILABLE,
    "ValidationException": HTTPStatus.BAD_REQUEST,
    "OperationNotPermittedFault": HTTPStatus.FORBIDDEN,
}


class Refused(Exception):
    """A request the console will not serve; ``status`` and a sentence for the page."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Console:
    """What every request needs: the SWF client, the domain, and the safety settings."""

    client: Any
    domain: str
    endpoint_label: str
    allow_actions: bool = False
    secret: bytes = b""
    clock: Callable[[], float] = time.time
    histories: Histories | None = None  # histories read, kept between requests

    def __post_init__(self) -> None:
        self.secret = self.secret or secrets.token_bytes(32)
        if self.histories is None:
            self.histories = Histories()

    def csrf_token(self, cookie: str) -> str:
        return hmac.new(self.secret, cookie.encode(), hashlib.sha256).hexdigest()

    def page(self, cookie: str) -> Page:
        return Page(self.domain, self.endpoint_label, self.allow_actions,
                    self.csrf_token(cookie) if self.allow_actions else "")


def host_allowed(host_header: str | None, port: int) -> bool:
    """An IP literal or ``localhost``, on our port: a DNS name an attacker controls
    (DNS rebinding) never is."""
    if not host_header:
        return False
    try:
        parts = urlsplit("//" + host_header)
        name, header_port = parts.hostname, parts.port
    except ValueError:
        return False
    if header_port != port or not name:
        return False
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _one(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    value = values[0].strip() if values else ""
    return value or None


def _time(query: dict[str, list[str]], key: str) -> datetime | None:
    value = _one(query, key)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.rstrip("Z"))
    except ValueError:
        raise Refused(HTTPStatus.BAD_REQUEST,
                      f"{key} = {value!r}: expected a date and time such as "
                      "2026-01-31T13:45:00 (UTC)") from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed


def _number(query: dict[str, list[str]], key: str, default: float | None = None,
            ) -> float | None:
    value = _one(query, key)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise Refused(HTTPStatus.BAD_REQUEST, f"{key} = {value!r}: expected a number")
    return number


def _whole(query: dict[str, list[str]], key: str, low: int, high: int | None,
           default: int | None) -> int | None:
    """A whole number from ``low`` to ``high`` (no upper bound when None), or ``default``."""
    number = _number(query, key)
    if number is None:
        return default
    if number != int(number) or number < low or (high is not None and number > high):
        limit = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise Refused(HTTPStatus.BAD_REQUEST,
                      f"{key} = {number:g}: expected a whole number {limit}")
    return int(number)


def view_from(query: dict[str, list[str]], workflow_id: str, run_id: str) -> View:
    """An execution page's view: the timeline's window (``from``/``to``, seconds) and first
    lane (``lanes``), the events' page size (``events``), the event to land on (``event``)
    and the families shown (``family``, repeated)."""
    families = tuple(dict.fromkeys(v.strip().lower() for v in query.get("family", [])
                                   if v.strip()))
    unknown = [name for name in families if name not in FAMILIES]
    if unknown:
        raise Refused(HTTPStatus.BAD_REQUEST, f"family = {unknown[0]!r}: expected one of "
                      f"{', '.join(FAMILIES)}")
    return View(workflow_id, run_id, window=(_number(query, "from"), _number(query, "to")),
                lanes_from=_whole(query, "lanes", 0, None, 0) or 0,
                size=_whole(query, "events", 1, MAX_PAGE, View.size) or View.size,
                event=_whole(query, "event", 1, None, None),
                families=tuple(name for name in FAMILIES if name in families))


def filters_from(query: dict[str, list[str]]) -> Filters:
    state = (_one(query, "state") or "open").upper()
    if state not in (OPEN, CLOSED):
        raise Refused(HTTPStatus.BAD_REQUEST, f"state = {state.lower()!r}: expected open or closed")
    close_status = _one(query, "closeStatus")
    return Filters(state=state, workflow_id=_one(query, "workflowId"),
                   type_name=_one(query, "type"), type_version=_one(query, "version"),
                   tag=_one(query, "tag"), close_status=close_status.upper() if close_status
                   else None, oldest=_time(query, "startedAfter"),
                   latest=_time(query, "startedBefore"))


class Handler(BaseHTTPRequestHandler):
    server: ConsoleServer
    server_version = "swfd-console"
    protocol_version = "HTTP/1.1"

    # -- plumbing ----------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8",
             headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.new_cookie:
            self.send_header("Set-Cookie", f"{COOKIE}={self.new_cookie}; Path=/; HttpOnly; "
                                           "SameSite=Strict")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def cookie(self) -> str:
        """The browser's random cookie (the CSRF token is its HMAC); a new one if absent
        (the same one for the rest of this request)."""
        if self.new_cookie:
            return self.new_cookie
        jar = SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
            jar = SimpleCookie()
        value = jar[COOKIE].value if COOKIE in jar else ""
        if len(value) < 20 or not value.isalnum():
            self.new_cookie = value = secrets.token_hex(20)
        return value

    def handle_safely(self, serve: Callable[[], None]) -> None:
        self.new_cookie = ""
        self.ids: dict[str, str] = {}  # the execution a request is about, for the log
        console = self.server.console
        try:
            if not host_allowed(self.headers.get("Host"), self.server.server_port):
                raise Refused(HTTPStatus.MISDIRECTED_REQUEST,
                              f"Host {self.headers.get('Host')!r} is not this console's address "
                              "(an IP address or localhost, with its port)")
            with retry_bounds(max_attempts=3):
                serve()
        except Refused as exc:
            log.warning("refused %s %s: %s", self.command, urlsplit(self.path).path, exc,
                        extra=self.log_ids())
            self.error_page(exc.status, "Refused", str(exc))
        except DoesNotExist as exc:
            self.error_page(HTTPStatus.NOT_FOUND, "Not found", str(exc))
        except NotAnSWFReply as exc:
            message = f"{exc} (endpoint {console.endpoint_label})"
            log.error("not an SWF answer on %s: %s", urlsplit(self.path).path, message,
                      extra=self.log_ids())
            self.error_page(HTTPStatus.BAD_GATEWAY, "Not an SWF answer", message)
        except ClientError as exc:
            from swfd.admin import remote_error

            code = exc.response.get("Error", {}).get("Code", "")
            message = remote_error(exc, console.endpoint_label)
            log.error("SWF error on %s: %s", urlsplit(self.path).path, message,
                      extra=self.log_ids())
            self.error_page(ERROR_STATUS.get(code, HTTPStatus.BAD_GATEWAY),
                            f"SWF answered {code or 'an error'}", message)
        except BotoCoreError as exc:
            from swfd.admin import boto_error

            message = boto_error(exc, console.endpoint_label)
            log.error("SWF call failed on %s: %s", urlsplit(self.path).path, message,
                      extra=self.log_ids())
            self.error_page(HTTPStatus.BAD_GATEWAY, "Cannot reach SWF", message)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:
            log.exception("console error on %s", urlsplit(self.path).path, extra=self.log_ids())
            self.error_page(HTTPStatus.INTERNAL_SERVER_ERROR, "Console error",
                            f"{type(exc).__name__} (the console's log has the details)")

    def log_ids(self) -> dict[str, Any]:
        query = parse_qs(urlsplit(self.path).query)
        fields = {"workflowId": _one(query, "workflowId"), "runId": _one(query, "runId"),
                  **self.ids}
        return {k: v for k, v in fields.items() if v}

    def error_page(self, status: int, title: str, message: str) -> None:
        self.close_connection = True  # a refused request's body may be unread
        page = self.server.console.page(self.cookie())
        self.send(status, page.error(title, message, int(status)).encode())

    # -- GET ---------------------------------------------------------------------

    def do_GET(self) -> None:
        self.handle_safely(self.route_get)

    def do_HEAD(self) -> None:
        self.handle_safely(self.route_get)

    def route_get(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/":
            self.executions(query)
        elif url.path == "/execution":
            self.execution(query)
        elif url.path.startswith("/static/"):
            self.static(url.path[len("/static/"):])
        elif url.path == "/favicon.ico":
            self.send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        else:
            raise Refused(HTTPStatus.NOT_FOUND, f"no page at {url.path}")

    def executions(self, query: dict[str, list[str]]) -> None:
        console = self.server.console
        filters = filters_from(query)
        size = _whole(query, "size", 1, MAX_PAGE_SIZE, 50) or 50
        token = _one(query, "next")
        listing = data.list_executions(console.client, console.domain, filters, token=token,
                                       page_size=size)
        html = console.page(self.cookie()).executions(filters, listing, token, size)
        self.send(HTTPStatus.OK, html.encode())

    def execution(self, query: dict[str, list[str]]) -> None:
        from swfd.swf.executions import latest_run_id

        console = self.server.console
        workflow_id = _one(query, "workflowId")
        if not workflow_id:
            raise Refused(HTTPStatus.BAD_REQUEST, "workflowId is missing")
        self.ids = {"workflowId": workflow_id}
        view = view_from(query, workflow_id, "")  # checked before any call
        jump = _whole(query, "jump", 1, None, None)
        run_id = _one(query, "runId") or latest_run_id(console.client, console.domain,
                                                       workflow_id)
        self.ids["runId"] = run_id
        view = replace(view, run_id=run_id)
        if jump is not None:  # the jump form: to the page holding that event, at its row
            location = view.link(f"#event-{jump}", event=jump)
            self.send(HTTPStatus.SEE_OTHER, b"", headers={"Location": location})
            return
        run = data.execution(console.client, console.domain, workflow_id, run_id,
                             console.histories)
        notice = {"signal": "Signal sent.", "cancel": "Cancellation requested.",
                  "terminate": "Terminated."}.get(_one(query, "done") or "", "")
        html = console.page(self.cookie()).execution(run, view, console.clock(), notice)
        self.send(HTTPStatus.OK, html.encode())

    def static(self, name: str) -> None:
        suffix = name[name.rfind("."):] if "." in name else ""
        if "/" in name or name.startswith(".") or suffix not in STATIC_TYPES:
            raise Refused(HTTPStatus.NOT_FOUND, f"no asset {name!r}")
        try:
            body = resources.files("swfd.console").joinpath("static", name).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise Refused(HTTPStatus.NOT_FOUND, f"no asset {name!r}") from None
        self.send(HTTPStatus.OK, body, STATIC_TYPES[suffix],
                  headers={"Cache-Control": "public, max-age=300"})

    # -- POST --------------------------------------------------------------------

    def do_POST(self) -> None:
        self.handle_safely(self.route_post)

    def do_PUT(self) -> None:
        self.handle_safely(self.not_allowed)

    do_DELETE = do_PATCH = do_PUT

    def not_allowed(self) -> None:
        raise Refused(HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} is not served here")

    def read_form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a form of {length} bytes is "
                          f"more than this console takes ({MAX_BODY})")
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                          "actions take an HTML form (application/x-www-form-urlencoded)")
        return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}

    def route_post(self) -> None:
        console = self.server.console
        action = urlsplit(self.path).path.removeprefix("/action/")
        form = self.read_form()  # read first, so a refused request leaves the connection sane
        if not console.allow_actions:
            raise Refused(HTTPStatus.FORBIDDEN, "this console is read-only: start it with "
                          "--allow-actions to signal, cancel or terminate")
        if action not in ACTIONS:
            raise Refused(HTTPStatus.NOT_FOUND, f"no action {action!r}")
        self.check_origin()
        cookie = self.cookie()
        expected = console.csrf_token(cookie)
        if self.new_cookie or not hmac.compare_digest(form.get("csrf", ""), expected):
            raise Refused(HTTPStatus.FORBIDDEN, "the form's CSRF token is missing or wrong: "
                          "reload the page and try again")
        workflow_id, run_id = form.get("workflowId", ""), form.get("runId", "")
        self.ids = {"workflowId": workflow_id, "runId": run_id}
        if not workflow_id or not run_id:
            raise Refused(HTTPStatus.BAD_REQUEST, "workflowId and runId are required")
        if action == "signal" and not form.get("signalName"):
            raise Refused(HTTPStatus.BAD_REQUEST, "a signal needs a name")
        if form.get("confirmed") != "yes":
            self.send(HTTPStatus.OK, console.page(cookie).confirm(action, form).encode())
            return
        if action == "signal":
            data.signal(console.client, console.domain, workflow_id, run_id,
                        form["signalName"], form.get("input") or None)
        elif action == "cancel":
            data.request_cancel(console.client, console.domain, workflow_id, run_id)
        else:
            data.terminate(console.client, console.domain, workflow_id, run_id,
                           form.get("reason"))
        log.info("console action %s done", action, extra=self.log_ids())
        location = execution_link(workflow_id, run_id).replace("&amp;", "&") + f"&done={action}"
        self.send(HTTPStatus.SEE_OTHER, b"", headers={"Location": location})

    def check_origin(self) -> None:
        """A browser names the page a POST comes from: it must be this console."""
        origin = self.headers.get("Origin")
        if origin is None:  # not a browser, or one that does not say: the token decides
            return
        if urlsplit(origin).netloc != self.headers.get("Host"):
            raise Refused(HTTPStatus.FORBIDDEN, f"a form posted from {origin!r}, not from this "
                          "console, is refused")


class ConsoleServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], console: Console):
        self.console = console
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"
