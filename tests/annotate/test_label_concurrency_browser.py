"""Five people label one queue at the same time in the real app: five chromium contexts (separate
cookies) sign in through OpenID Connect as five annotators and label with the keyboard, each
pressing its key before any page has finished its rerun, so the server runs five sessions at once.
Afterwards the database holds exactly the labels they made, each attributed to its annotator,
and no pair has more annotators than the queue allows. Screenshots: test-artifacts/label-concurrent-*.png.

Identity in the app comes from `st.login` (OIDC), so the test runs a small OpenID provider on
127.0.0.1: discovery, an authorize page with a user field, a token endpoint that signs an
RS256 id_token, and the JWKS. Streamlit's own login code (Authlib) does the rest. Skipped when
chromium or Authlib is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("browser_support", REPO / "tests" / "browser" / "browser_support.py")
bs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bs)

pytestmark = pytest.mark.browser

USERS = tuple(f"annotator{i}@example.test" for i in range(1, 6))
CLIENT_ID = "curator-test"
PER_USER = 3  # labels each person makes
OVERLAP = 2
N_PAIRS = 10  # 20 slots for 15 labels: everyone always has a next pair


class OpenIdStub:
    """A minimal OpenID Connect provider: the authorize page asks for a user name, nothing else."""

    def __init__(self) -> None:
        from joserfc.jwk import RSAKey

        self.key = RSAKey.generate_key(2048, parameters={"kid": "stub"})
        self.codes: dict[str, tuple[str, str | None]] = {}  # code -> (user, nonce)
        self.server = ThreadingHTTPServer(("127.0.0.1", bs.free_port()), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OpenIdStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _id_token(self, user: str, nonce: str | None) -> str:
        from joserfc import jwt

        now = int(time.time())
        claims = {"iss": self.url, "sub": user, "aud": CLIENT_ID, "email": user, "email_verified": True,
                  "iat": now, "exp": now + 3600, **({"nonce": nonce} if nonce else {})}
        return jwt.encode({"alg": "RS256", "kid": "stub"}, claims, self.key)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: str | dict, *, ctype: str = "application/json",
                      headers: dict[str, str] | None = None) -> None:
                data = (json.dumps(body) if isinstance(body, dict) else body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._send(200, {
                        "issuer": stub.url, "authorization_endpoint": f"{stub.url}/authorize",
                        "token_endpoint": f"{stub.url}/token", "jwks_uri": f"{stub.url}/jwks",
                        "response_types_supported": ["code"], "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})
                elif url.path == "/jwks":
                    self._send(200, {"keys": [stub.key.as_dict(private=False)]})
                elif url.path == "/authorize":
                    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                                     for k, v in q.items() if k in ("state", "nonce", "redirect_uri"))
                    self._send(200, f'<html><body><h1>Stub sign-in</h1><form action="/approve" method="get">'
                                    f'<input id="user" name="user">{hidden}<button id="go" type="submit">Sign in'
                                    f'</button></form></body></html>', ctype="text/html")
                elif url.path == "/approve":
                    code = secrets.token_urlsafe(16)
                    stub.codes[code] = (q["user"], q.get("nonce"))
                    target = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}"
                    self._send(302, "", headers={"Location": target})
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                if urlparse(self.path).path != "/token" or form.get("code") not in stub.codes:
                    self._send(400, {"error": "invalid_grant"})
                    return
                user, nonce = stub.codes.pop(form["code"])
                self._send(200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                 "expires_in": 3600, "id_token": stub._id_token(user, nonce)})

        return Handler


class TeamApp:
    """The app served on a test database with OIDC sign-in; `stop()` releases the DuckDB file."""

    def __init__(self, folder: Path, oidc: OpenIdStub) -> None:
        from curator.annotate.queue import create_queue
        from curator.schema import PairFilter
        from curator.store import Store

        self.db = bs.appdata.build(folder / "team.duckdb")
        store = Store(self.db)
        self.pair_ids = store.select_pair_ids(PairFilter(datasets=("raw",)), limit=N_PAIRS)
        self.queue_id = create_queue(store, name="team", pair_ids=self.pair_ids, annotators_per_pair=OVERLAP).queue_id
        store.close()  # the server process opens the file next
        port = bs.free_port()
        self.url = f"http://127.0.0.1:{port}"
        secrets_file = folder / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "{self.url}/oauth2callback"\n'
            f'cookie_secret = "{secrets.token_hex(16)}"\n'
            f'client_id = "{CLIENT_ID}"\nclient_secret = "stub-secret"\n'
            f'server_metadata_url = "{oidc.url}/.well-known/openid-configuration"\n'
            "[curator]\n"
            'admins = ["admin@example.test"]\n'
            f"annotators = {json.dumps(list(USERS))}\n")
        self.log_path = folder / "streamlit.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed by stop)
        env = {k: v for k, v in os.environ.items() if k != "CURATOR_USER"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
             "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none", "--secrets.files", str(secrets_file)],
            cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**env, "CURATOR_DB": str(self.db), "PYTHONPATH": str(REPO), "NO_PROXY": "127.0.0.1,localhost"})
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen(self.url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError(f"streamlit did not start: {self.log_path.read_text()[-3000:]}") from None
                time.sleep(0.25)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


@pytest.fixture
def team_app(tmp_path: Path) -> Iterator[TeamApp]:
    if not bs.CHROMIUM.exists():
        pytest.skip(f"{bs.CHROMIUM} not found: install Debian's chromium for browser tests")
    pytest.importorskip("authlib", reason="st.login needs Authlib (pip install 'streamlit[auth]')")
    pytest.importorskip("joserfc")
    with OpenIdStub() as oidc:
        app = TeamApp(tmp_path, oidc)
        try:
            yield app
        finally:
            app.stop()


def _sign_in(pg: object, url: str, user: str) -> None:
    from playwright.sync_api import expect

    pg.goto(f"{url}/Label?dataset=raw")
    bs.wait_for_app(pg)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url("**/authorize**")
    pg.fill("#user", user)
    pg.click("#go")
    pg.wait_for_url(f"{url}/**")
    pg.goto(f"{url}/Label?dataset=raw")
    bs.wait_for_app(pg)
    local, domain = user.split("@")  # the app puts a word joiner after "@" (no autolink)
    expect(pg.get_by_test_id("stSidebar")).to_contain_text(
        re.compile(rf"Signed in as {re.escape(local)}@\u2060?{re.escape(domain)} \(annotator\)"))
    expect(pg.get_by_text("Response A", exact=True)).to_be_visible()


CAPTION = "the order of A and B is drawn for you"


def _item_caption(pg: object) -> str:
    return pg.get_by_text(CAPTION).inner_text()


def test_five_annotators_label_at_once(team_app, artifacts_dir):
    from playwright.sync_api import expect, sync_playwright

    url = team_app.url
    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(bs.CHROMIUM), headless=True, args=bs.CHROMIUM_ARGS)
        try:
            pages = []
            for user in USERS:  # one context per person: separate cookies, separate sign-in
                context = browser.new_context(viewport={"width": 1300, "height": 950})
                context.set_default_timeout(90_000)  # five sessions on a shared 2-core machine
                pg = context.new_page()
                rec = bs.Recorder()
                pg.on("request", lambda r, rec=rec: rec.requests.append(r.url))
                _sign_in(pg, url, user)
                pages.append((pg, rec))
            pressed: dict[str, list[str]] = {u: [] for u in USERS}
            for step in range(PER_USER):
                before = []
                for i, (pg, _) in enumerate(pages):  # every page presses before any is waited on
                    before.append(_item_caption(pg))
                    pg.get_by_role("heading", name="Label").click()  # focus the page, not a text field
                    key = "abt"[(step + i) % 3]
                    pg.keyboard.press(key)
                    pressed[USERS[i]].append(key)
                for (pg, _), caption in zip(pages, before, strict=True):
                    bs.wait_for_app(pg)  # the next pair is shown (or the queue is done for this person)
                    caption_now = pg.get_by_text(CAPTION)
                    if step < PER_USER - 1 or caption_now.count():
                        expect(caption_now).not_to_have_text(caption)
            for i, (pg, rec) in enumerate(pages):
                bs.wait_for_app(pg)
                pg.screenshot(path=str(artifacts_dir / f"label-concurrent-{i + 1}.png"), full_page=True)
                assert not rec.foreign(), f"requests left 127.0.0.1: {rec.foreign()}"
        finally:
            browser.close()
    team_app.stop()  # the server owns the DuckDB file; read the log once it has let go

    from curator.store import Store

    store = Store(team_app.db)
    try:
        rows = [dict(r, pair_id=pid) for pid in team_app.pair_ids for r in store.judgements(pid).to_pylist()
                if r["kind"] == "human" and r["source"] == f"queue:{team_app.queue_id}"]
    finally:
        store.close()
    assert Counter(r["annotator"] for r in rows) == {u: PER_USER for u in USERS}  # exactly what they made
    shown = Counter((r["annotator"], json.loads(r["details"])["shown_choice"]) for r in rows)
    expected = Counter((u, {"a": "A", "b": "B", "t": "tie"}[k]) for u, keys in pressed.items() for k in keys)
    assert shown == expected  # each label is what its own annotator pressed
    assert max(Counter((r["annotator"], r["pair_id"]) for r in rows).values()) == 1
    assert max(Counter(r["pair_id"] for r in rows).values()) <= OVERLAP  # no pair over-served
