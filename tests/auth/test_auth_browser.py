"""Sign-in in Debian chromium against a local OpenID Connect provider (tests/auth/mock_oidc.py).

The real app runs with a secrets.toml in a temporary folder (``[auth]`` pointing at the provider,
``[curator] admins``), passed through ``STREAMLIT_SECRETS_FILES`` so the repository's .streamlit/
is never written. An annotator signs in, labels (the label carries their email), and is refused
Train, Curate and Routing even by direct URL; they sign out; an admin signs in and reaches all three.
Screenshots go to test-artifacts/ (auth-*.png).

The tests of this module share one server and run in file order (the last one stops the server to
read the database it wrote).
"""

from __future__ import annotations

import importlib.util
import re
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import mock_oidc
import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("browser_support", REPO / "tests" / "browser" / "browser_support.py")
bs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bs)

pytestmark = pytest.mark.browser

ANN, BOSS = "ann@example.org", "boss@example.org"
ADMIN_PAGES = ("Train", "Curate", "Routing")


@dataclass
class AuthApp:
    url: str
    db: Path
    folder: Path
    idp: mock_oidc.OIDCProvider
    stack: ExitStack

    def stop(self) -> None:
        self.stack.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthApp]:
    bs.require_chromium()
    from curator.annotate.queue import create_queue
    from curator.schema import PairFilter
    from curator.store import Store

    folder = tmp_path_factory.mktemp("auth_browser")
    db = bs.appdata.build(folder / "auth.duckdb")
    store = Store(db)
    create_queue(store, name="signed", pair_ids=store.select_pair_ids(PairFilter(datasets=("raw",)), limit=3))
    store.close()  # the server process opens the file next

    stack = ExitStack()
    idp = stack.enter_context(mock_oidc.running(client_id="curator", client_secret=secrets.token_hex(8),
                                                redirect_uris=[]))
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'  # Streamlit fills in its port
        f'cookie_secret = "{secrets.token_hex(16)}"\n'
        f'client_id = "{idp.client_id}"\n'
        f'client_secret = "{idp.client_secret}"\n'
        f'server_metadata_url = "{idp.metadata_url}"\n\n'
        "[curator]\n"
        f'admins = ["{BOSS}"]\n')
    url = stack.enter_context(bs.serve_app(
        db, log_dir=folder, drop_env=("CURATOR_USER",),
        env={"STREAMLIT_SECRETS_FILES": str(secrets_file), "NO_PROXY": "127.0.0.1,localhost"}))
    idp.redirect_uris = [f"{url}/oauth2callback"]
    handle = AuthApp(url, db, folder, idp, stack)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def browser(app: AuthApp) -> Iterator[object]:
    with bs.chromium(expect_timeout_ms=60_000) as b:
        yield b


def _sign_in(pg, app: AuthApp, email: str) -> None:
    from playwright.sync_api import expect

    app.idp.next_user = app.idp.user(email)
    bs.open_page(pg, app.url)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url(f"{app.url}/")  # provider -> /oauth2callback -> back to the app
    bs.wait_for_app(pg)
    expect(pg.get_by_test_id("stSidebar")).to_contain_text(_shown(email))


def _shown(text: str) -> re.Pattern[str]:
    """`text` as `ui.inline` shows it: a word joiner may follow any character (it stops autolinks)."""
    return re.compile("\u2060?".join(re.escape(c) for c in text))


def _sidebar_links(pg, *, signed_in: bool = True) -> list[str]:
    from playwright.sync_api import expect

    links = pg.get_by_test_id("stSidebar").get_by_test_id("stPageLink")
    if signed_in:  # the list is drawn after the user line
        expect(links.filter(has_text="Label")).to_be_visible()
    # Each link's text is its material icon's name, then its label.
    texts = links.all_inner_texts()
    return [t.strip().splitlines()[-1].strip() for t in texts]


def test_signed_out_sees_only_the_sign_in_button(app, browser, artifacts_dir):
    from playwright.sync_api import expect

    with bs.recorded_page(browser) as (pg, rec):
        for path in ("", "/Label", "/Train"):
            bs.open_page(pg, app.url + path)
            expect(pg.get_by_role("button", name="Sign in")).to_be_visible()
            expect(pg.get_by_test_id("stMain").get_by_role("button")).to_have_count(1)
            assert _sidebar_links(pg, signed_in=False) == []
            expect(pg.get_by_text("Datasets")).to_have_count(0)
            expect(pg.get_by_test_id("stDataFrame")).to_have_count(0)
        bs.shoot(pg, artifacts_dir, "auth-signed-out")
        rec.assert_clean()
    assert app.idp.logins == []


def test_annotator_labels_and_is_refused_admin_pages_then_signs_out(app, browser, artifacts_dir):
    from playwright.sync_api import expect

    with bs.recorded_page(browser) as (pg, rec):
        _sign_in(pg, app, ANN)
        login = app.idp.logins[-1]
        assert login["user"] == ANN and login["nonce"] and login["pkce"] == "S256"
        expect(pg.get_by_test_id("stSidebar")).to_contain_text("(annotator)")
        links = _sidebar_links(pg)
        assert "Label" in links and not set(ADMIN_PAGES) & set(links), links
        expect(pg.get_by_text("Only admins load data")).to_be_visible()
        expect(pg.get_by_role("button", name="Load demo data")).to_have_count(0)
        bs.shoot(pg, artifacts_dir, "auth-annotator-home")

        bs.open_page(pg, f"{app.url}/Label")
        expect(pg.get_by_role("heading", name="Label")).to_be_visible()
        expect(pg.get_by_test_id("stTextInput")).to_have_count(0)  # no "who are you" box: the sign-in says who
        pg.get_by_role("button", name="A is better").click()
        bs.wait_for_app(pg)
        expect(pg.get_by_text("Saved: A is better.")).to_be_visible()
        bs.shoot(pg, artifacts_dir, "auth-annotator-label")

        for title in ADMIN_PAGES:  # by direct URL, as the sidebar does not offer them
            bs.open_page(pg, f"{app.url}/{title}")
            expect(pg.get_by_text(f"Access denied: the {title} page is for admins only")).to_be_visible()
            expect(pg.get_by_test_id("stMain").get_by_role("heading")).to_have_count(0)
            expect(pg.get_by_test_id("stMain").get_by_role("button")).to_have_count(0)
            for action in ("Start training", "Export snapshot", "Create queue", "Save recipe"):
                expect(pg.get_by_role("button", name=action)).to_have_count(0)
            bs.shoot(pg, artifacts_dir, f"auth-annotator-{title.lower()}-denied")

        pg.get_by_role("button", name="Sign out").click()
        expect(pg.get_by_role("button", name="Sign in")).to_be_visible()
        for _ in range(50):  # the provider's end-session request can land after the page shows "Sign in"
            if app.idp.logouts:
                break
            pg.wait_for_timeout(200)
        assert len(app.idp.logouts) == 1 and app.idp.logouts[0].get("id_token_hint")
        bs.open_page(pg, f"{app.url}/Label")  # the cookie is gone: signed out on every page
        expect(pg.get_by_role("button", name="Sign in")).to_be_visible()
        expect(pg.get_by_text(_shown(ANN))).to_have_count(0)
        rec.assert_clean()


def test_admin_reaches_admin_pages(app, browser, artifacts_dir):
    from playwright.sync_api import expect

    with bs.recorded_page(browser) as (pg, rec):
        _sign_in(pg, app, BOSS)
        expect(pg.get_by_test_id("stSidebar")).to_contain_text("(admin)")
        assert set(ADMIN_PAGES) <= set(_sidebar_links(pg))

        bs.open_page(pg, f"{app.url}/Curate")
        expect(pg.get_by_role("heading", name="Curate")).to_be_visible()
        pg.get_by_role("button", name="Export snapshot").click()
        bs.wait_for_app(pg)
        expect(pg.get_by_text("Exported", exact=False).first).to_be_visible()
        assert len(list((app.folder / "exports").iterdir())) == 1

        bs.open_page(pg, f"{app.url}/Train")
        expect(pg.get_by_role("heading", name="Train")).to_be_visible()
        expect(pg.get_by_role("button", name="Start training")).to_be_visible()
        bs.shoot(pg, artifacts_dir, "auth-admin-train")

        bs.open_page(pg, f"{app.url}/Routing")
        expect(pg.get_by_role("heading", name="Routing")).to_be_visible()
        expect(pg.get_by_text("Access denied")).to_have_count(0)
        rec.assert_clean()


def test_labels_in_the_database_carry_the_signed_in_email(app):
    from curator.schema import PairFilter
    from curator.store import Store

    app.stop()  # the server holds the DuckDB file; stop it to read what it wrote
    store = Store(app.db)
    try:
        raw = set(store.select_pair_ids(PairFilter(datasets=("raw",))))  # the queue's dataset, unlabelled before
        rows = [r for r in store.latest_judgements(kind="human").to_pylist() if r["pair_id"] in raw and r["choice"]]
    finally:
        store.close()
    assert [(r["annotator"], r["choice"]) for r in rows] == [(ANN, rows[0]["choice"])]
