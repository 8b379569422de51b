"""The page structure: every file in pages/ is a page that runs on its own, and the sidebar lists them."""

from __future__ import annotations

import appdata
import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from curator.ui.layout import page_files

PAGES = [rel for rel, _ in page_files()]


def test_page_files_are_home_then_numbered_pages():
    files = page_files()
    assert files[0] == ("app.py", "Home")
    assert [t for _, t in files[1:3]] == ["Browse", "Overview"]
    assert all(rel.startswith("pages/") for rel, _ in files[1:])


@pytest.mark.parametrize("path", PAGES)
def test_every_page_runs(app_db, path):
    at = AppTest.from_file(appdata.APP, default_timeout=60)
    if path != "app.py":
        at.switch_page(path)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_runs_on_an_empty_database(empty_db, path):
    at = AppTest.from_file(appdata.APP, default_timeout=60)
    if path != "app.py":
        at.switch_page(path)
    at.run()
    assert not at.exception, at.exception


@pytest.fixture
def own_navigation():
    before = config.get_option("client.showSidebarNavigation")
    config.set_option("client.showSidebarNavigation", False)
    yield
    config.set_option("client.showSidebarNavigation", before)


def test_sidebar_lists_pages_by_name_when_streamlits_list_is_off(app_db, own_navigation):
    at = AppTest.from_file(appdata.APP, default_timeout=30)
    at.switch_page("pages/2_Overview.py").run()
    assert not at.exception, at.exception
    links = [(e.proto.label, e.proto.page) for e in at.sidebar.get("page_link")]
    assert [label for label, _ in links[:3]] == ["Home", "Browse", "Overview"]
    assert len(links) == len(PAGES)
