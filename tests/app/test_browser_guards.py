"""Issue 21 in a real browser (its own Streamlit server, headless Debian Chromium): a 2-row upload is told it is too
small and starts no analysis; Gradient space on it says so and starts no job however long it stays open (the jobs
are counted in the workspace once the server has stopped: DuckDB has one writer process); another dataset is
deleted only after the confirmation (a refresh on the question deletes nothing); Curate's duplicate slider on the demo opens at 0.85.

AppTest covers the same guards faster (tests/app/test_guards.py): this one is marked slow."""
from pathlib import Path

import pytest

from tests.app.test_browser import CHROMIUM, Server, browser, wait_idle  # noqa: F401  (browser: a fixture)
from tests.helpers import DATA

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")]


def test_two_rows_no_job_loop_delete_with_confirmation_and_the_slider_default(tmp_path_factory, browser):  # noqa: F811
    workspace = tmp_path_factory.mktemp("guards-browser-ws")
    server = Server(workspace, tmp_path_factory.mktemp("guards-logs"))
    files, lines = tmp_path_factory.mktemp("files"), (DATA / "mixture_24.jsonl").read_text().splitlines(keepends=True)
    (files / "pair.jsonl").write_text("".join(lines[:2]))
    (files / "gone.jsonl").write_text("".join(lines[2:4]))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(90_000)
    try:
        page.goto(server.url)
        wait_idle(page)
        for name in ("gone", "pair"):
            page.set_input_files('[data-testid="stFileUploaderDropzoneInput"]', str(files / f"{name}.jsonl"))
            page.get_by_text("Detected shape").wait_for(timeout=30_000)
            wait_idle(page)
            page.get_by_role("button", name="Ingest and analyse").click()
            page.get_by_text(f"{name} (from {name}.jsonl): 2 samples kept").wait_for(timeout=30_000)
            page.get_by_text("needs at least 3").first.wait_for()
            assert page.get_by_text("Analysis started").count() == 0
            wait_idle(page)

        page.goto(f"{server.url}/gradient-space?dataset=pair")
        wait_idle(page)
        page.get_by_text("needs at least 3").first.wait_for()
        page.wait_for_timeout(8_000)  # the old page started a job every couple of seconds here
        wait_idle(page)
        assert page.locator('[data-testid="stProgress"]').count() == 0 and page.get_by_role(
            "button", name="Analyse").count() == 0

        page.goto(server.url)
        wait_idle(page)
        page.get_by_role("combobox").first.click()  # the picker starts on the newest (pair): pick gone
        page.get_by_role("option", name="gone").click()
        wait_idle(page)
        page.get_by_text("Rename or delete gone").click()
        page.get_by_role("button", name="Delete gone…").click()
        page.get_by_text("Delete gone for good?").wait_for()
        wait_idle(page)
        page.reload()  # a refresh on the question deletes nothing
        wait_idle(page)
        table = page.locator('[data-testid="stDataFrame"]').first
        table.wait_for()
        assert page.get_by_role("button", name="Yes, delete gone").count() == 0
        page.get_by_role("combobox").first.click()
        page.get_by_role("option", name="gone").click()
        wait_idle(page)
        page.get_by_text("Rename or delete gone").click()
        page.get_by_role("button", name="Delete gone…").click()
        page.get_by_role("button", name="Yes, delete gone").click()
        wait_idle(page)
        page.get_by_text("Rename or delete pair").wait_for(timeout=30_000)

        page.get_by_role("button", name="Load the demo").click()
        page.wait_for_url("**/gradient-space**", timeout=120_000)  # the demo opens on its map
        wait_idle(page, timeout=120_000)
        page.goto(f"{server.url}/curate?dataset=demo")
        wait_idle(page)
        thumb = page.locator('[data-testid="stSliderThumbValue"]').first
        thumb.wait_for(timeout=60_000)
        assert thumb.inner_text().strip() == "0.85"
    except Exception:
        from tests.app.test_browser import ARTIFACTS

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "guards-failure.png"), full_page=True)
        raise
    finally:
        page.close()
        server.stop()
    from core.data.store import Store
    from core.jobs import list_jobs

    with Store(workspace / "prism.duckdb") as store:
        assert store.dataset_names() == ["pair", "demo"]  # gone, deleted once confirmed
        assert [j for j in list_jobs(store) if j.dataset == "pair"] == []  # upload and page: not one job
