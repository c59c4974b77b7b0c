"""The one HTTP client: timeouts, credentials from the URL, and errors that never show a password.

User name and password may be given in the URL (``http://user:secret@host/...``); they are sent with HTTP Basic up
front (as ``curl -u`` does) and with Digest when the server asks for it, and every message, log line and error names
the URL without them (``public_url``).

urllib is imported by the functions that send: it costs every command 40 ms of start-up, and most never send.
"""
from __future__ import annotations

import base64
import urllib.parse
from dataclasses import dataclass
from typing import Any

from hipkg.errors import EndpointError, InputError


def public_url(url: str) -> str:
    """The URL without user name and password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(URL without credentials, user, password), or an InputError for anything but an http(s) URL with a host."""
    try:
        parts = urllib.parse.urlsplit(url)
        hostname, port = parts.hostname, parts.port
    except ValueError:
        raise InputError(f"{public_url(url)!r}: expected an http(s) URL") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise InputError(f"{public_url(url)!r}: expected an http(s) URL")
    if parts.username is None:
        return url, None, None
    host = f"[{hostname}]" if ":" in hostname else hostname  # an IPv6 literal keeps its brackets
    netloc = host + (f":{port}" if port else "")
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")


def with_query(url: str, query: str) -> str:
    return url + ("&" if urllib.parse.urlsplit(url).query else "?") + query


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes


class Client:
    """Requests to one server. ``url`` is the address without credentials; errors are EndpointError with the HTTP
    status (None when the server was not reached) and at most 300 characters of the server's reply."""

    def __init__(self, url: str, timeout: float) -> None:
        import urllib.request  # only where a request is made (start-up time; see the module docstring)

        self.url, user, password = split_credentials(url)
        self.public = public_url(self.url)
        self.timeout = timeout
        self.authorization: str | None = None
        handlers: list[Any] = []
        if user is not None:
            self.authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
            manager.add_password(None, self.url, user, password)
            handlers.append(urllib.request.HTTPDigestAuthHandler(manager))
        self.opener = urllib.request.build_opener(*handlers)

    def send(self, method: str, url: str, body: bytes | None, content_type: str | None, accept: str | None = None,
             bearer: str | None = None, max_bytes: int | None = None) -> Reply:
        """Send one request to ``url`` (this server's address, possibly with a query string); ``bearer`` is an OAuth
        access token (sent instead of the URL's credentials); a reply longer than ``max_bytes`` is an EndpointError."""
        import urllib.error  # only where a request is made (start-up time; see the module docstring)
        import urllib.request  # only where a request is made (start-up time; see the module docstring)

        headers = {"Content-Type": content_type} if content_type else {}
        if accept:
            headers["Accept"] = accept
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        authorization = f"Bearer {bearer}" if bearer else self.authorization
        if authorization:  # unredirected: a redirect to another host never carries the credentials
            request.add_unredirected_header("Authorization", authorization)
        where = public_url(url)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                data = response.read(max_bytes + 1) if max_bytes is not None else response.read()
                if max_bytes is not None and len(data) > max_bytes:
                    raise EndpointError(f"{where} answered more than {max_bytes:,} bytes", where, response.status, "too large")
                return Reply(response.status, response.headers.get_content_type(), data)
        except urllib.error.HTTPError as exc:
            detail = _detail(exc)
            raise EndpointError(f"{where} answered HTTP {exc.code}: {detail}", where, exc.code, detail) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EndpointError(f"cannot reach {where}: {reason}", where, None, str(reason)) from None
        except ValueError:  # urllib's Digest handler refuses a challenge of another scheme (Bearer, ...)
            detail = "it asked for an authentication scheme other than Basic or Digest"
            raise EndpointError(f"{where} refused the credentials: {detail}", where, 401, detail) from None


def _detail(exc: Any) -> str:
    try:
        text = exc.read().decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - the body is only for the message
        text = ""
    return " ".join(text.split())[:300]
