"""Who is using the app and what they may do: identity from OIDC (`st.login`) or one local user, roles from secrets.

Identity: with an ``[auth]`` section in Streamlit's secrets (redirect_uri, cookie_secret, client_id,
client_secret, server_metadata_url) every page needs a signed-in user, and the user id is the
ID token's ``email`` (unless the provider says ``email_verified = false``) or else its ``sub``.
Without ``[auth]`` there is one local user: ``[curator] local_user``, ``$CURATOR_USER`` or "local".

Roles come from ``[curator]`` in the same secrets:

* ``admins = ["ann@example.org", ...]``: these users are admins (matched case-insensitively).
* ``annotators = [...]`` (optional): an allow-list; anyone in neither list is refused.
* Without ``annotators``, everyone else who is signed in is an annotator. With nothing configured
  at all (no ``[auth]``, no lists) the single local user is an admin: the app behaves as it always did.

Admins may do everything. Annotators label, browse and see their own agreement; the pages in
`ADMIN_PAGES` (training, exports, routing) and the admin actions (importing data, starting and
cancelling jobs) refuse them. Pages call `gate` through `page_setup`; actions call `require_admin`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from curator.ui.text import inline

ADMIN = "admin"
ANNOTATOR = "annotator"
# Page titles (as `layout.page_files` names them) that only admins may open.
ADMIN_PAGES = frozenset({"Curate", "Train", "Routing"})
ROLES_HELP = "Admins are listed in `[curator] admins` of the app's secrets.toml."


@dataclass(frozen=True)
class User:
    id: str
    role: str  # "admin" or "annotator"

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


def _secrets(section: str) -> dict[str, Any]:
    try:
        value = st.secrets.get(section)
    except Exception:  # noqa: BLE001 - no secrets file is the normal local case
        return {}
    return dict(value) if value else {}


@dataclass(frozen=True)
class JudgeSettings:
    """The language model the app may ask (an OpenAI-compatible endpoint)."""

    url: str
    model: str
    api_key: str | None


def judge_settings() -> JudgeSettings | None:
    """``judge_url`` / ``judge_model`` (and optionally ``judge_api_key``) of ``[curator]`` in the
    secrets, else ``$CURATOR_JUDGE_URL`` / ``$CURATOR_JUDGE_MODEL``; None when no judge is configured.
    Without a key in the secrets, the client reads ``$OPENAI_API_KEY``."""
    cfg = _secrets("curator")
    url = str(cfg.get("judge_url") or os.environ.get("CURATOR_JUDGE_URL") or "").strip()
    model = str(cfg.get("judge_model") or os.environ.get("CURATOR_JUDGE_MODEL") or "").strip()
    if not url or not model:
        return None
    return JudgeSettings(url, model, cfg.get("judge_api_key"))


def oidc_configured() -> bool:
    """Whether the secrets have an ``[auth]`` section, i.e. the app requires `st.login`."""
    return bool(_secrets("auth"))


def role_for(user_id: str, *, admins: Iterable[str], annotators: Iterable[str], signed_in: bool) -> str | None:
    """The role of `user_id`: "admin", "annotator", or None when the user is refused.

    Args:
        user_id: the email, OIDC ``sub`` or local user name.
        admins: ``[curator] admins``; matched case-insensitively.
        annotators: ``[curator] annotators``; when not empty, an allow-list.
        signed_in: whether the user came through OIDC (then nobody is an admin by default).

    >>> role_for("Boss@X.org", admins=["boss@x.org"], annotators=[], signed_in=True)
    'admin'
    >>> role_for("ann@x.org", admins=["boss@x.org"], annotators=[], signed_in=True)
    'annotator'
    >>> role_for("stranger", admins=["boss"], annotators=["worker"], signed_in=False) is None
    True
    >>> role_for("local", admins=[], annotators=[], signed_in=False)
    'admin'
    """
    uid = user_id.strip().casefold()
    admins = {str(a).strip().casefold() for a in admins}
    annotators = {str(a).strip().casefold() for a in annotators}
    if uid and uid in admins:
        return ADMIN
    if annotators:
        return ANNOTATOR if uid and uid in annotators else None
    if admins or signed_in:
        return ANNOTATOR
    return ADMIN


def user_id_from_claims(claims: Mapping[str, Any]) -> str:
    """The id labels carry: the verified email, else the subject.

    >>> user_id_from_claims({"email": "a@x.org", "sub": "123"})
    'a@x.org'
    >>> user_id_from_claims({"email": "a@x.org", "email_verified": False, "sub": "123"})
    '123'
    """
    email = claims.get("email")
    if email and claims.get("email_verified") is not False:
        return str(email)
    return str(claims.get("sub") or "")


def _login_screen() -> None:
    st.title("Curator")
    st.info("Sign in to use Curator.", icon=":material/login:")
    st.button("Sign in", key="auth.login", on_click=st.login, type="primary", icon=":material/login:")
    st.stop()


def current_user() -> User:
    """The signed-in (OIDC) or local user and their role.

    Stops the page with a sign-in button when OIDC is configured and nobody is signed in, and with
    a refusal when the user is on neither list.
    """
    cfg = _secrets("curator")
    signed_in = oidc_configured()
    if signed_in:
        if not st.user.get("is_logged_in", False):
            _login_screen()
        uid = user_id_from_claims(st.user)
    else:
        uid = str(cfg.get("local_user") or os.environ.get("CURATOR_USER") or "local")
    role = role_for(uid, admins=cfg.get("admins", []), annotators=cfg.get("annotators", []), signed_in=signed_in)
    if role is None or not uid:
        st.error(f"{inline(uid or 'This account', max_chars=80)} is not on this project's annotator list. "
                 "Ask an admin to add you.", icon=":material/block:")
        if signed_in:
            st.button("Sign out", key="auth.logout_refused", on_click=st.logout)
        st.stop()
    return User(uid, role)


def is_admin() -> bool:
    """Whether the current user is an admin (stops the page like `current_user` when nobody is signed in)."""
    return current_user().is_admin


def require_admin(action: str = "This page") -> User:
    """Stop with an access-denied message unless the current user is an admin; returns the admin."""
    user = current_user()
    if not user.is_admin:
        st.error(f"Access denied: {action} is for admins only. You are signed in as "
                 f"{inline(user.id, max_chars=80)} ({user.role}). {ROLES_HELP}", icon=":material/block:")
        st.stop()
    return user


def may_open(title: str, user: User) -> bool:
    """Whether `user` may open the page titled `title`."""
    return user.is_admin or title not in ADMIN_PAGES


def user_caption(user: User) -> None:
    """The sidebar line naming the user and role, with a sign-out button under OIDC."""
    with st.sidebar:
        st.caption(f"Signed in as **{inline(user.id, max_chars=60)}** ({user.role})")
        if oidc_configured():
            st.button("Sign out", key="auth.logout", on_click=st.logout, icon=":material/logout:")
