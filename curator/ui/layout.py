"""What every page draws the same way: page config, the sidebar dataset picker, errors, empty states."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from curator.errors import CuratorError
from curator.store import DatasetSummary
from curator.ui import auth, browse, data, keys
from curator.ui.text import inline

# The tab icon is an emoji: a material-icon favicon is fetched from fonts.gstatic.com, and the app
# must not call out to the internet.
FAVICON = "⚖️"


def page_setup(title: str) -> auth.User:
    """First call of every page: tab title, wide layout, sidebar open, sign-in, the page list; returns the user.

    Every page runs on its own (a deep link starts at the page, not at app.py), so each calls this.
    With OIDC configured it stops at a sign-in button until the user is signed in, and a page in
    `auth.ADMIN_PAGES` stops at an access-denied message for anyone but an admin (see `curator.ui.auth`).
    Streamlit lists the files of pages/ in the sidebar by itself, naming the home page after its
    file ("app"). With ``[client] showSidebarNavigation = false`` in .streamlit/config.toml that
    list is hidden and this draws the same list with proper names and icons instead (admin pages
    only for admins).
    """
    st.set_page_config(page_title=f"{title} · Curator", page_icon=FAVICON, layout="wide",
                       initial_sidebar_state="expanded")
    user = auth.current_user()
    if st.get_option("client.showSidebarNavigation") is False:
        _page_links(user)
    auth.user_caption(user)
    if not auth.may_open(title, user):
        auth.require_admin(f"the {title} page")
    return user


def page_files() -> list[tuple[str, str]]:
    """(path relative to app.py, title) of the home page and every pages/*.py file, in sidebar order.

    Titles come from file names as Streamlit makes them: ``3_Signal_runs.py`` -> "Signal runs".
    """
    folder = Path(__file__).resolve().parents[2] / "pages"
    found = []
    for path in folder.glob("*.py"):
        match = re.match(r"^(\d*)_?(.+)\.py$", path.name)
        if match and not path.name.startswith((".", "_")):
            found.append((int(match.group(1)) if match.group(1) else 1_000_000, match.group(2).lower(),
                          f"pages/{path.name}", match.group(2).replace("_", " ")))
    return [(keys.HOME_PAGE, "Home")] + [(rel, title) for *_, rel, title in sorted(found)]


def _page_links(user: auth.User) -> None:
    with st.sidebar:
        for rel, title in page_files():
            if auth.may_open(title, user):
                st.page_link(rel, label=title, icon=keys.page_icon(title))
        st.divider()


@contextmanager
def errors_shown() -> Iterator[None]:
    """Show an expected failure (a `CuratorError`) as an error box and stop the page; bugs keep their traceback."""
    try:
        yield
    except CuratorError as e:
        st.error(f"{type(e).__name__}: {inline(str(e), max_chars=2000)}", icon=":material/error:")
        st.stop()


def dataset_picker() -> DatasetSummary | None:
    """The sidebar dataset selector shared by every page (kept across pages and in the URL).

    Returns the chosen dataset's summary, or None when the database has no dataset yet.
    """
    summaries = data.datasets()
    by_name = {d.name: d for d in summaries}
    with st.sidebar:
        if not summaries:
            st.caption(f"Database `{Path(data.db_path()).name}` has no datasets yet.")
            return None
        name = st.selectbox("Dataset", list(by_name), key=keys.DATASET, bind="query-params",
                            persist_state="session", on_change=dataset_changed,
                            help="Every page works on this dataset.")
        chosen = by_name.get(name) or summaries[0]
        st.caption(f"{chosen.pairs:,} pairs · {chosen.human_labelled:,} labelled · "
                   f"{chosen.human_judgements:,} human / {chosen.ai_judgements:,} AI judgements")
    return chosen


def dataset_changed() -> None:
    """Callback of the dataset picker: filters and selections of the old dataset do not apply."""
    st.session_state.pop(keys.SELECTION, None)
    browse.reset_filters()


def no_data() -> None:
    """The empty state of a page that needs pairs: say so and point at the home page."""
    st.info("There are no pairs in this database yet. Load a file or the demo data on the home page.",
            icon=":material/inbox:")
    st.page_link(keys.HOME_PAGE, label="Load data", icon=":material/upload:")
    st.stop()
