"""GX Data Docs offline (issue: closed county and provincial networks): one site for every year, static files once,
each failing result naming the school and the rule, the real run time; opened in headless Chromium with networking
disabled, the pages are styled and show the results.

Small data: the hand-made panel of test_quality_rules (an offender per rule in 2022, clean in 2023). Chromium runs in
a network namespace without interfaces (`unshare -n`, as root) or, where that is not possible, behind a dead proxy
that loopback does not bypass; a probe page proves that nothing outside the file system can load.
"""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import threading
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

import duckdb

from junheng.defs.quality import data_docs
from chromium import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS
from quality_db import build_template, flag_years, warehouse
from test_quality_rules import RULES, build_panel, returns_2022

# belt and braces besides the empty network namespace: every request goes to a dead proxy, loopback included
OFFLINE_FLAGS = [*CHROMIUM_FLAGS, "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
REMOTE = re.compile(r"https?://|(?:src|href)\s*=\s*[\"']?//", re.I)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One site, filled as loads do: a copy of an old per-year site; 2022 (an earlier load that had only the rules
    of the `values` suite), 2022 again (the reload replaces it) and 2023."""
    folder = tmp_path_factory.mktemp("docs")
    root = folder / "gx"
    legacy = root / "2019"  # the old layout: a GX site per year, with CDN stylesheets
    (legacy / "static" / "styles").mkdir(parents=True)
    (legacy / "index.html").write_text('<link rel="stylesheet" href="https://cdn.example/b.css">', encoding="utf-8")
    y21, y22, y23 = build_panel()
    path = warehouse(build_template(folder), folder / "wh.duckdb", [y21, y22, y23], {2022: returns_2022()})
    values_only = {k: r for k, r in RULES.items() if r.kind in ("negative", "section_mismatch")}
    runs = {}
    with duckdb.connect(str(path)) as conn:
        flag_years(conn, [2021])
        for year, rules in ((2022, values_only), (2022, RULES), (2023, RULES)):
            before = datetime.now(timezone.utc)
            out = flag_years(conn, [year], rules=rules, docs_dir=root)[year][1]
            runs[year] = (out, before, datetime.now(timezone.utc))
    return root, runs


def _html_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.html"))


def test_one_site_static_files_once(site):
    root, runs = site
    assert runs[2022][0].docs_index == runs[2023][0].docs_index == root / "index.html"
    assert runs[2022][0].docs_page == root / "2022" / "index.html"
    statics = [p for p in root.rglob("static") if p.is_dir()]
    assert statics == [root / "static"]
    assert [p.name for p in (root / "static").iterdir()] == ["junheng-docs.css"]
    assert not [p for p in root.rglob("*") if p.suffix in (".css", ".js") and p.parent != root / "static"]
    assert not (root / "2019").exists()  # the old per-year site is gone (its year comes back when validated)
    # each year's results are stored in the site; the reload of 2022 replaced its first run
    assert sorted(p.name for p in (root / "results").iterdir()) == ["2022", "2023"]
    for suite in ("junheng_values", "junheng_parts_primary", "junheng_yoy", "junheng_events"):
        assert sorted(p.name for p in (root / "validations" / suite).iterdir()) == ["2022", "2023"]
        assert len(list((root / "validations" / suite / "2022").iterdir())) == 1
    index = (root / "index.html").read_text(encoding="utf-8")
    assert 'href="2022/index.html"' in index and 'href="2023/index.html"' in index


def test_no_remote_reference_and_no_script(site):
    root, _ = site
    files = _html_files(root)
    assert len(files) >= 3 + 2 * 8 + 8  # index, 2 year pages, 8–9 validation pages a year, 8–9 suite pages
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert not REMOTE.search(text), (f, REMOTE.search(text).group(0))
        assert "<script" not in text.lower(), f
        assert not data_docs.remote_references(text), f
        # every page links the one stylesheet, relative to where it is
        rel = re.findall(r'<link rel="stylesheet" href="([^"]+)">', text)
        assert len(rel) == 1 and (f.parent / rel[0]).resolve() == (root / "static" / "junheng-docs.css").resolve(), f


def _validation_page(root: Path, suite: str, year: int) -> Path:
    (page,) = (root / "validations" / suite / str(year)).glob("*/*.html")
    return page


def test_results_name_the_school_and_the_rule(site):
    root, _ = site
    zh, en = data_docs.rule_titles(RULES["R_NEGATIVE"])
    year = (root / "2022" / "index.html").read_text(encoding="utf-8")
    for text in ("R_NEGATIVE", zh, en, "P12", "学校P12", "R_SECTION_MISMATCH", "P11", "学校P11",
                 "R_RETURN_RATE_AS_SHARE", "340102", "certified_teacher_rate"):
        assert text in year, text
    # GX's own validation page: the rule on the expectation, the school in the table of unexpected values
    page = _validation_page(root, "junheng_values", 2022).read_text(encoding="utf-8")
    assert "R_NEGATIVE" in page and zh in page and "P12 学校P12" in page and data_docs.SCHOOL_COL in page
    assert "&lt;strong" not in page  # the rule's markup is rendered, not shown as text
    # 2023 is clean: no school is listed with a warning
    assert "全部通过" not in year
    clean = (root / "2023" / "index.html").read_text(encoding="utf-8")
    assert "R_NEGATIVE" not in clean and "P12" not in clean


def test_real_run_time(site):
    root, runs = site
    out, before, after = runs[2023]
    assert before <= out.run_time <= after
    stamp = out.run_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    page = _validation_page(root, "junheng_values", 2023).read_text(encoding="utf-8")
    assert re.search(r"Run Time</div></td><td[^>]*><div[^>]*>" + re.escape(stamp), page)
    assert stamp in (root / "2023" / "index.html").read_text(encoding="utf-8")
    assert out.run_time.strftime("%Y%m%dT%H%M%S") in str(_validation_page(root, "junheng_values", 2023))


def test_build_site_rebuilds_from_stored_results(site, tmp_path):
    root, _ = site
    copy = tmp_path / "gx"
    shutil.copytree(root, copy)
    shutil.rmtree(copy / "validations")
    (copy / "2022" / "index.html").unlink()
    (copy / "static" / "junheng-docs.css").unlink()
    index = data_docs.build_site(copy)
    assert index == copy / "index.html"
    assert (copy / "static" / "junheng-docs.css").exists() and (copy / "2022" / "index.html").exists()
    assert _validation_page(copy, "junheng_values", 2022).exists()
    assert sorted(p.relative_to(copy) for p in _html_files(copy)) == sorted(p.relative_to(root) for p in _html_files(root))


def test_suite_pages_are_rendered_again_only_when_their_suite_changes(tmp_path):
    """Each load writes the suite pages; one rendered from the same suite (GX version, renderer) is kept as it is."""
    from junheng.defs.quality.gx_run import build_suites

    values_only = {k: r for k, r in RULES.items() if r.kind in ("negative", "section_mismatch")}
    data_docs.write_suite_pages(tmp_path, build_suites(values_only).values())
    pages = sorted((tmp_path / "expectations").glob("*.html"))
    assert pages and all("<!-- junheng suite digest " in p.read_text(encoding="utf-8")[-200:] for p in pages)
    first = {p.name: p.stat().st_ino for p in pages}

    data_docs.write_suite_pages(tmp_path, build_suites(values_only).values())  # the next load, the same rules
    assert {p.name: p.stat().st_ino for p in pages} == first  # not rewritten (a write replaces the inode)

    data_docs.write_suite_pages(tmp_path, build_suites(RULES).values())  # rules of the other suites added
    after = {p.name: p.stat().st_ino for p in sorted((tmp_path / "expectations").glob("*.html"))}
    changed = {n for n in first if after[n] != first[n]}
    assert changed and "junheng_values.html" not in changed  # the changed suites only (values had all its rules)

    page = tmp_path / "expectations" / "junheng_values.html"  # a page without its digest (older, or cut short)
    page.write_text(page.read_text(encoding="utf-8").rsplit("<!-- junheng suite digest ", 1)[0], encoding="utf-8")
    data_docs.write_suite_pages(tmp_path, build_suites(RULES).values())
    assert "<!-- junheng suite digest " in page.read_text(encoding="utf-8")


# ---------------------------------------------------------------- headless Chromium, networking disabled


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.stylesheets: list[str] = []
        self.ids: set[str] = set()
        self.rows = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and a.get("rel") == "stylesheet":
            self.stylesheets.append(a.get("href") or "")
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "tr":
            self.rows += 1

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """Run Chromium without networking: (command prefix, profile dir). Checked with a probe below."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run scripts/install_system_deps.sh")
    prefix: list[str] = []
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        prefix = [unshare, "-n"]
    return prefix, tmp_path_factory.mktemp("chromium")


def _chromium(offline, args: list[str]) -> subprocess.CompletedProcess:
    prefix, profile = offline
    return subprocess.run([*prefix, CHROMIUM, *OFFLINE_FLAGS, f"--user-data-dir={profile / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


def _open(offline, page: Path, shot: Path | None = None, height: int = 2000):
    """The DOM Chromium dumps and, with `shot`, its screenshot (one launch: Chromium does both at once)."""
    from PIL import Image

    args = ["--dump-dom"]
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        shot.unlink(missing_ok=True)
        args += [f"--screenshot={shot}", f"--window-size=1280,{height}"]
    r = _chromium(offline, [*args, page.resolve().as_uri()])
    assert r.returncode == 0 and "<html" in r.stdout, r.stderr[-2000:]
    d = _Dom()
    d.feed(r.stdout)
    if shot is None:
        return d, None
    if not shot.exists():  # a Chromium that does one thing per launch
        r = _chromium(offline, args[1:] + [page.resolve().as_uri()])
    assert shot.exists(), r.stderr[-2000:]
    return d, Image.open(shot).convert("RGB")


def test_network_is_really_off(offline, tmp_path):
    """A page that loads an image from a server on this machine: the server must see no request."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        probe = tmp_path / "probe.html"
        port = server.server_address[1]
        probe.write_text(f'<html><body><img src="http://127.0.0.1:{port}/probe.png">'
                         f'<link rel="stylesheet" href="http://127.0.0.1:{port}/probe.css"></body></html>')
        _open(offline, probe)
    finally:
        server.shutdown()
    assert hits == [], "Chromium reached the network: the offline checks would prove nothing"


def test_pages_in_offline_chromium(site, offline):
    root, _ = site
    css = root / "static" / "junheng-docs.css"
    body_bg = (0xF4, 0xF6, 0xF8)  # body background of junheng-docs.css (the browser default is white)
    warning_red = (0xC0, 0x39, 0x2B)  # .jh-warning badges

    # the site index: every year
    dom, _ = _open(offline, root / "index.html")
    text = "".join(dom.text)
    assert "2022" in text and "2023" in text and "years" in dom.ids
    assert dom.stylesheets == ["static/junheng-docs.css"] and css.exists()

    # the year page: the failing schools, each with its rule
    dom, img = _open(offline, root / "2022" / "index.html", ARTIFACTS / "gx_docs_2022.png", 2400)
    text = "".join(dom.text)
    for s in ("R_NEGATIVE", "P12", "学校P12", "R_RANGE_BOOKS_PER_STUDENT", "P04", "学校P04"):
        assert s in text, s
    assert "R_NEGATIVE" in dom.ids and dom.rows > 20
    assert dom.stylesheets == ["../static/junheng-docs.css"]
    assert img.getpixel((3, 1500)) == body_bg, "the local stylesheet was not applied"
    assert warning_red in {c for _, c in img.getcolors(maxcolors=1_000_000)}

    # GX's validation page: the rule on the expectation and the school among the unexpected values
    page = _validation_page(root, "junheng_values", 2022)
    dom, img = _open(offline, page, ARTIFACTS / "gx_docs_2022_values.png", 1600)
    text = "".join(dom.text)
    assert "R_NEGATIVE" in text and "P12 学校P12" in text and "Run Time" in text
    assert dom.stylesheets == ["../../../../static/junheng-docs.css"]
    assert img.getpixel((3, 1500)) == body_bg, "the local stylesheet was not applied"
    assert warning_red in {c for _, c in img.getcolors(maxcolors=1_000_000)}
    colours = img.resize((320, 400)).getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50, "screenshot looks blank"
