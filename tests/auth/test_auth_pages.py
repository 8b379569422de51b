"""Roles under AppTest: sign-in required with OIDC configured, admin pages and actions refused to
annotators, labels carrying the signed-in identity; nothing changes without configuration.

`st.user` is set through ``AppTest.user`` and the ``[auth]`` / ``[curator]`` secrets through
``AppTest.secrets``; the real sign-in against a provider is in test_auth_browser.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from curator.annotate.queue import create_queue
from curator.schema import PairFilter
from curator.store import Store
from curator.ui import auth, keys
from curator.ui.layout import page_files

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("appdata", REPO / "tests" / "pages" / "appdata.py")
appdata = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(appdata)

PAGES = dict((title, rel) for rel, title in page_files())
ADMIN_ONLY = sorted(auth.ADMIN_PAGES)
OPEN_TO_ANNOTATORS = [t for t in PAGES if t not in auth.ADMIN_PAGES]
OIDC = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "not-a-secret",
        "client_id": "curator", "client_secret": "s3cret",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
ROLES = {"admins": ["Boss@Example.org"]}
ANN = {"is_logged_in": True, "email": "ann@example.org", "email_verified": True, "sub": "sub-ann", "name": "Ann"}
BOSS = {"is_logged_in": True, "email": "boss@example.org", "sub": "sub-boss", "name": "Boss"}


@pytest.fixture
def db(tmp_path, monkeypatch) -> Store:
    path = appdata.build(tmp_path / "auth.duckdb")
    monkeypatch.setenv("CURATOR_DB", str(path))
    monkeypatch.delenv("CURATOR_USER", raising=False)
    store = Store.open(path)  # the same process-wide instance the app's cached getter returns
    yield store
    store.close()


@pytest.fixture
def own_navigation():
    before = config.get_option("client.showSidebarNavigation")
    config.set_option("client.showSidebarNavigation", False)
    yield
    config.set_option("client.showSidebarNavigation", before)


def _app(user: dict | None, *, secrets: dict | None = None, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(appdata.APP, default_timeout=60)
    for k, v in ({"auth": OIDC, "curator": ROLES} if secrets is None else secrets).items():
        at.secrets[k] = v
    if user is not None:
        at.user = user
    for k, v in (state or {}).items():
        at.session_state[k] = v
    return at


def _open(at: AppTest, title: str) -> AppTest:
    if title != "Home":
        at.switch_page(PAGES[title])
    at.run()
    assert not at.exception, at.exception
    return at


def _denied(at: AppTest) -> bool:
    return any("Access denied" in e.value for e in at.error)


def _plain(text: str) -> str:
    """Text as shown: without the escapes `ui.inline` adds against Markdown and autolinks."""
    return text.replace("\\", "").replace("\u2060", "")


# -- role rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("uid", "admins", "annotators", "signed_in", "role"), [
    ("boss@example.org", ["Boss@Example.org"], [], True, "admin"),       # emails match case-insensitively
    ("ann@example.org", ["boss@example.org"], [], True, "annotator"),    # everyone else signed in annotates
    ("ann@example.org", [], [], True, "annotator"),                      # OIDC without admins: nobody is admin
    ("local", [], [], False, "admin"),                                   # nothing configured: as before
    ("worker", ["boss"], ["worker"], False, "annotator"),
    ("stranger", ["boss"], ["worker"], True, None),                      # an allow-list refuses the rest
    ("", ["boss"], [], True, "annotator"),
    ("boss", ["boss"], ["worker"], False, "admin"),                      # admins need not be annotators
])
def test_role_for(uid, admins, annotators, signed_in, role):
    assert auth.role_for(uid, admins=admins, annotators=annotators, signed_in=signed_in) == role


def test_user_id_prefers_a_verified_email_over_the_subject():
    assert auth.user_id_from_claims({"email": "a@x.org", "sub": "s"}) == "a@x.org"
    assert auth.user_id_from_claims({"email": "a@x.org", "email_verified": False, "sub": "s"}) == "s"
    assert auth.user_id_from_claims({"sub": "s"}) == "s"


# -- pages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("title", list(PAGES))
def test_signed_out_sees_only_the_sign_in_button(db, title):
    at = _open(_app({"email": "test@example.com"}), title)  # AppTest's default user, not signed in
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.dataframe and not at.selectbox and not at.error and not at.metric


@pytest.mark.parametrize("title", ADMIN_ONLY)
def test_annotator_is_denied_admin_pages(db, title):
    at = _open(_app(ANN, state={keys.DATASET: "demo"}), title)
    assert _denied(at) and "ann@example.org (annotator)" in _plain(at.error[0].value)
    assert len(at.error) == 1 and not at.title and not at.metric and not at.dataframe
    assert [b.label for b in at.button] == ["Sign out"]  # the sidebar's, nothing of the page


@pytest.mark.parametrize("title", OPEN_TO_ANNOTATORS)
def test_annotator_opens_the_other_pages(db, title):
    at = _open(_app(ANN, state={keys.DATASET: "demo"}), title)
    assert not _denied(at) and not at.error, [e.value for e in at.error]
    assert any("ann@example.org** (annotator)" in _plain(c.value) for c in at.sidebar.caption)


@pytest.mark.parametrize("title", ADMIN_ONLY)
def test_admin_opens_admin_pages(db, title):
    at = _open(_app(BOSS, state={keys.DATASET: "demo"}), title)
    assert not _denied(at) and at.title and at.title[0].value == title
    assert any("boss@example.org** (admin)" in _plain(c.value) for c in at.sidebar.caption)


def test_without_configuration_the_local_user_is_admin_everywhere(db):
    for title in ADMIN_ONLY:
        at = _open(_app(None, secrets={}, state={keys.DATASET: "demo"}), title)
        assert not _denied(at) and at.title[0].value == title
    assert not any(b.label == "Sign out" for b in at.button)


def test_sidebar_lists_admin_pages_to_admins_only(db, own_navigation):
    def links(user: dict) -> list[str]:
        return [e.proto.label for e in _open(_app(user), "Overview").sidebar.get("page_link")]

    assert set(ADMIN_ONLY) <= set(links(BOSS)) and len(links(BOSS)) == len(PAGES)
    assert not set(ADMIN_ONLY) & set(links(ANN)) and "Label" in links(ANN)


def test_annotator_labels_under_the_signed_in_identity(db):
    q = create_queue(db, name="three", pair_ids=db.select_pair_ids(PairFilter(datasets=("raw",)), limit=3))
    at = _open(_app(ANN), "Label")
    assert at.selectbox(key=keys.QUEUE).value == q.queue_id
    assert not at.text_input, "the annotator id comes from the sign-in, never from a text box"
    assert not any(e.label == "New queue" for e in at.expander)
    at.button(key="lbl.choice.A").click().run()
    assert not at.exception, at.exception
    assert db.latest_judgements(kind="human", annotator="ann@example.org").num_rows == 1
    assert db.latest_judgements(kind="human", annotator="local").num_rows == 0

    unverified = _open(_app({**ANN, "email_verified": False}), "Label")
    unverified.button(key="lbl.choice.B").click().run()
    assert db.latest_judgements(kind="human", annotator="sub-ann").num_rows == 1


def test_home_and_signals_hide_admin_actions_from_annotators(db):
    home = _open(_app(ANN), "Home")
    assert not home.get("file_uploader") and not any(b.label == "Load demo data" for b in home.button)
    assert any("Only admins load data" in c.value for c in home.caption)
    assert any(b.label == "Load demo data" for b in _open(_app(BOSS), "Home").button)
    signals = _open(_app(ANN, state={keys.DATASET: "demo"}), "Signals")
    assert not any(b.label == "Compute signals" for b in signals.button)


def test_an_allow_list_refuses_everyone_else(db):
    at = _open(_app({**ANN, "email": "eve@example.org"},
                    secrets={"auth": OIDC, "curator": {**ROLES, "annotators": ["ann@example.org"]}}), "Label")
    assert "not on this project's annotator list" in at.error[0].value
    assert [b.label for b in at.button] == ["Sign out"]


def _call_export() -> None:
    from curator.ui import curate_view

    curate_view.export("demo", None)
    import streamlit as st

    st.markdown("export returned")


def _call_demo() -> None:
    from curator.ui import loading

    loading.load_demo(n_pairs=10)
    import streamlit as st

    st.markdown("demo returned")


@pytest.mark.parametrize("action", [_call_export, _call_demo])
def test_admin_actions_refuse_annotators_even_when_called_directly(db, tmp_path, action):
    at = AppTest.from_function(action, default_timeout=60)
    at.secrets["auth"], at.secrets["curator"] = OIDC, ROLES
    at.user = ANN
    at.run()
    assert not at.exception, at.exception
    assert _denied(at) and not at.markdown
    assert not (tmp_path / "exports").exists() and not (tmp_path / "demo").exists()
