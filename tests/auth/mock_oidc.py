"""A small OpenID Connect provider on 127.0.0.1 for the sign-in tests: a real HTTP server, no mocks.

It serves what Streamlit's `st.login` (Authlib's Starlette client) uses:

* ``/.well-known/openid-configuration``: the discovery document (PKCE S256, RS256 ID tokens);
* ``/authorize``: approves at once, as the user named by ``login_hint`` or else `OIDCProvider.next_user`,
  and redirects back with a one-time code (the client id and redirect URI must be the registered ones);
* ``/token``: exchanges that code (client secret by Basic auth or form, PKCE verifier checked) for an
  access token and an RS256-signed ID token carrying the request's ``nonce``;
* ``/jwks``: the public key; ``/userinfo``: the claims for a Bearer access token;
* ``/logout``: the end-session endpoint; counts the call and redirects to ``post_logout_redirect_uri``.

Usage::

    with OIDCProvider(client_id="curator", client_secret="s3cret", redirect_uris=[...]) as idp:
        idp.next_user = idp.user("ann@example.org")
        ... # secrets: server_metadata_url = idp.metadata_url
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(n: int) -> str:
    return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


@dataclass
class _Grant:
    claims: dict[str, Any]
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None


@dataclass
class OIDCProvider:
    """The provider; `start()` (or ``with``) serves it on a free 127.0.0.1 port."""

    client_id: str
    client_secret: str
    redirect_uris: Sequence[str]
    next_user: dict[str, Any] | None = None
    # What happened, for assertions: one dict per approved login / token issued / end-session call.
    logins: list[dict[str, Any]] = field(default_factory=list)
    tokens_issued: list[dict[str, Any]] = field(default_factory=list)
    logouts: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = secrets.token_hex(8)
        self._codes: dict[str, _Grant] = {}
        self._access: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> OIDCProvider:
        provider = self

        class Handler(_Handler):
            idp = provider

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="mock-oidc").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OIDCProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def issuer(self) -> str:
        assert self._server is not None, "start() the provider first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @staticmethod
    def user(email: str, *, name: str | None = None, sub: str | None = None, **claims: Any) -> dict[str, Any]:
        """The claims of a test user (``sub`` derived from the email unless given)."""
        return {"sub": sub or hashlib.sha256(email.encode()).hexdigest()[:16], "email": email,
                "email_verified": True, "name": name or email.split("@")[0], **claims}

    # -- documents ------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        i = self.issuer
        return {
            "issuer": i, "authorization_endpoint": f"{i}/authorize", "token_endpoint": f"{i}/token",
            "jwks_uri": f"{i}/jwks", "userinfo_endpoint": f"{i}/userinfo", "end_session_endpoint": f"{i}/logout",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"], "grant_types_supported": ["authorization_code"],
            "claims_supported": ["sub", "email", "email_verified", "name"],
        }

    def jwks(self) -> dict[str, Any]:
        pub = self._key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self._kid,
                          "n": _int_b64(pub.n), "e": _int_b64(pub.e)}]}

    def sign(self, payload: dict[str, Any]) -> str:
        """An RS256 JWT over `payload` with this provider's key."""
        header = {"alg": "RS256", "typ": "JWT", "kid": self._kid}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    # -- endpoints ------------------------------------------------------------------------------

    def authorize(self, q: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        """(status, headers, error body) for an authorization request."""
        if q.get("client_id") != self.client_id or q.get("redirect_uri") not in self.redirect_uris:
            return 400, {}, {"error": "invalid_request", "error_description": "unknown client or redirect_uri"}
        if q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
            return 400, {}, {"error": "invalid_request", "error_description": "need response_type=code, scope openid"}
        hint = q.get("login_hint")
        claims = self.user(hint) if hint else self.next_user
        if claims is None:
            return 400, {}, {"error": "login_required", "error_description": "the test chose no user"}
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Grant(dict(claims), q["client_id"], q["redirect_uri"], q.get("nonce"),
                                       q.get("code_challenge"), q.get("code_challenge_method"))
            self.logins.append({"user": claims.get("email") or claims["sub"], "nonce": q.get("nonce"),
                                "pkce": q.get("code_challenge_method"), "prompt": q.get("prompt")})
        back = {"code": code, **({"state": q["state"]} if "state" in q else {})}
        return 302, {"Location": f"{q['redirect_uri']}?{urlencode(back)}"}, None

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if client_id != self.client_id or secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # one use only
        if grant is None or grant.client_id != client_id or grant.redirect_uri != form.get("redirect_uri"):
            return 400, {"error": "invalid_grant"}
        if grant.code_challenge:
            verifier = form.get("code_verifier", "")
            if _b64(hashlib.sha256(verifier.encode()).digest()) != grant.code_challenge:
                return 400, {"error": "invalid_grant", "error_description": "PKCE verifier mismatch"}
        now = int(time.time())
        id_token = self.sign({"iss": self.issuer, "aud": client_id, "iat": now, "exp": now + 600, "auth_time": now,
                              **({"nonce": grant.nonce} if grant.nonce else {}), **grant.claims})
        access = secrets.token_urlsafe(24)
        with self._lock:
            self._access[access] = grant.claims
            self.tokens_issued.append({"user": grant.claims.get("email") or grant.claims["sub"]})
        return 200, {"access_token": access, "token_type": "Bearer", "expires_in": 600, "id_token": id_token,
                     "scope": "openid email profile"}

    def userinfo(self, authorization: str | None) -> tuple[int, dict[str, Any]]:
        token = (authorization or "").removeprefix("Bearer ").strip()
        claims = self._access.get(token)
        return (200, claims) if claims else (401, {"error": "invalid_token"})

    def logout(self, q: dict[str, str]) -> tuple[int, dict[str, str]]:
        with self._lock:
            self.logouts.append(dict(q))
        target = q.get("post_logout_redirect_uri")
        return (302, {"Location": target}) if target in self.redirect_uris else (200, {})


class _Handler(BaseHTTPRequestHandler):
    idp: OIDCProvider

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _send(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/.well-known/openid-configuration":
            self._send(200, self.idp.discovery())
        elif url.path == "/jwks":
            self._send(200, self.idp.jwks())
        elif url.path == "/authorize":
            status, headers, body = self.idp.authorize(q)
            self._send(status, body, headers)
        elif url.path == "/userinfo":
            self._send(*self.idp.userinfo(self.headers.get("Authorization")))
        elif url.path == "/logout":
            status, headers = self.idp.logout(q)
            self._send(status, {"logged_out": True} if status == 200 else None, headers)
        else:
            self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if url.path == "/token":
            self._send(*self.idp.token(form, self.headers.get("Authorization")))
        elif url.path == "/userinfo":
            self._send(*self.idp.userinfo(self.headers.get("Authorization")))
        else:
            self._send(404, {"error": "not_found"})


@contextmanager
def running(**kwargs: Any) -> Iterator[OIDCProvider]:
    """`OIDCProvider(**kwargs)`, started, stopped on exit."""
    with OIDCProvider(**kwargs) as idp:
        yield idp
