"""The report a reader opens: its front page and captions, rendered by a real browser.

Snakemake's report is one HTML file holding a React app: the front page and the result
list exist only after its JavaScript runs. The workflow test opens it in headless
Chromium (``--dump-dom``) and reads what the app rendered. Without Chromium the test is
skipped, unless ``AURORA_XAI_REQUIRE_BROWSER`` is set (CI), where it fails.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import run_snakemake
from docutils.core import publish_parts

from aurora_xai.front_page import RunSummary, front_page_rst, read_run_summary, rst_escape
from aurora_xai.headline_labels import GROUPS, describe

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


# ---------------------------------------------------------------------------------
# the front page's reStructuredText


def _summary(**kw) -> RunSummary:
    base = dict(
        model="small-pretrained",
        checkpoint="hf:microsoft/aurora/aurora-0.25-small-pretrained.ckpt@abc123",
        data_source="weatherbench2",
        data_path="gs://weatherbench2/datasets/era5/x.zarr",
        start="2005-01-01",
        end="2005-12-31",
        step_days=1,
        target_hour=6,
        history_hours=6,
        n_dates=363,
        skipped_dates=("2005-02-03", "2005-07-09"),
        tap="backbone",
        config_hash="0123456789abcdef",
        git_commit="deadbeef+dirty",
        package_versions={"microsoft-aurora": "2.0.1", "torch": "2.13.0", "numpy": "2.4.6"},
    )
    base.update(kw)
    return RunSummary(**base)


def _headline(note: bool) -> pd.DataFrame:
    rows = {
        "metric": [
            "pc1_annual_corr",
            "storm_calm_auc",
            "pc1_djf_jja_cohen_d",
            "storm_calm_auc_blocked",
            "made_up_metric",
        ],
        "value": [0.991845, 0.999556, math.nan, 0.84, 2.5],
        "ci_low": [math.nan, 0.998, math.nan, 0.78, math.nan],
        "ci_high": [math.nan, 1.0, math.nan, 0.9, math.nan],
        "n": pd.array([365, 60, 0, 60, 1], dtype="Int64"),
        "method": [
            "in-sample fit",
            "published (i.i.d. days, shuffled folds; kept for comparison): held-out AUC",
            "Cohen's d",
            "held-out AUC; blocked folds",
            "something",
        ],
        "n_unit": ["dates", "labelled days", "dates", "labelled days", "cases"],
        "unit": ["", "", "", "", "m s⁻¹"],
    }
    if note:
        rows["note"] = ["", "", "no summer *dates* in the window_", "", ""]
    return pd.DataFrame(rows)


def _html(rst: str) -> str:
    """HTML of ``rst``; any docutils warning (bad markup) raises."""
    return publish_parts(rst, writer="html", settings_overrides={"halt_level": 2, "report_level": 2})["body"]


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


def _tables(html: str) -> dict[str, list[list[str]]]:
    """Each group's rubric -> its table's body rows (cells as text)."""
    out = {}
    for title, table in re.findall(r'<p class="rubric">(.*?)</p>\s*<table.*?>(.*?)</table>', html, flags=re.S):
        body = re.search(r"<tbody.*?>(.*?)</tbody>", table, flags=re.S).group(1)
        rows = re.findall(r"<tr.*?>(.*?)</tr>", body, flags=re.S)
        out[_text(title).strip()] = [
            [" ".join(_text(c).split()) for c in re.findall(r"<td.*?>(.*?)</td>", r, flags=re.S)] for r in rows
        ]
    return out


def test_front_page_renders_setup_and_headline_table():
    html = _html(front_page_rst(_summary(), _headline(note=True)))
    text = _text(html)
    for expected in (
        "small-pretrained",
        "aurora-0.25-small-pretrained.ckpt@abc123",
        "weatherbench2",
        "gs://weatherbench2/datasets/era5/x.zarr",
        "2005-01-01 to 2005-12-31, every 1 day at 06 UTC",
        "363 dates",
        "2 skipped",
        "2005-07-09",
        "0123456789abcdef",
        "deadbeef+dirty",
        "microsoft-aurora 2.0.1",
        "no summer *dates* in the window_",  # markup characters of a note shown as text
        "results/tables/headline.csv",  # the full table, linked
    ):
        assert expected in text, expected
    assert "embedded default" not in text  # the synthetic-data note is for synthetic runs only
    tables = _tables(html)
    assert list(tables) == ["Regimes", "Storm and calm days", "Other"]  # the groups' order, empty ones left out
    regimes, storm_calm, other = tables.values()
    assert [r[:4] for r in regimes] == [
        ["PC1 annual-cycle correlation", "0.9918", "", "365 dates"],
        ["PC1 winter vs summer |Cohen's d|", "n/a", "", "0 dates"],
    ]
    assert "annual harmonics" in regimes[0][4]
    assert regimes[1][4].endswith("n/a: no summer *dates* in the window_")
    assert [r[:4] for r in storm_calm] == [
        ["Storm vs calm AUC, shuffled folds (published method)", "0.9996 [0.998, 1]", "", "60 labelled days"],
        ["Storm vs calm AUC, time-blocked folds", "0.84 [0.78, 0.9]", "", "60 labelled days"],
    ]
    assert other == [["made_up_metric", "2.5", "m s⁻¹", "1 cases", ""]]  # unmatched: its raw name


def test_front_page_without_the_optional_columns():
    """An older table (no note, method, n_unit or unit) still renders: nothing marked published."""
    old = _headline(note=False).drop(columns=["method", "n_unit", "unit"])
    html = _html(front_page_rst(_summary(), old))
    storm_calm = _tables(html)["Storm and calm days"]
    assert storm_calm[0][:2] == ["Storm vs calm AUC, shuffled folds", "0.9996 [0.998, 1]"]
    assert storm_calm[0][3] == "60"


def test_front_page_flags_the_synthetic_default():
    text = _html(front_page_rst(_summary(model="tiny", data_source="synthetic", skipped_dates=()), _headline(False)))
    assert "embedded default" in text and "tiny, randomly initialised Aurora" in text
    assert "skipped" not in text
    text = _html(
        front_page_rst(_summary(model="surrogate", data_source="synthetic", skipped_dates=()), _headline(False))
    )
    assert "surrogate, Aurora's tiny architecture trained on that store" in text


def test_front_page_refuses_a_table_without_its_columns():
    with pytest.raises(ValueError, match="ci_high"):
        front_page_rst(_summary(), _headline(False).drop(columns="ci_high"))


def test_rst_escape_keeps_text_literal():
    nasty = "a_ *b* `c` |d| [e]_ f\\g  h\ni"
    assert _text(_html(rst_escape(nasty))).strip() == "a_ *b* `c` |d| [e]_ f\\g h i"


def _write_run_records(tmp_path: Path, cfg: dict, attrs: dict, n_dates: int = 4) -> tuple[Path, Path]:
    prov = tmp_path / "provenance.json"
    prov.write_text(
        json.dumps(
            {
                "config": cfg,
                "config_hash": "feedfacefeedface",
                "git_commit": "0badc0de",
                "package_versions": {"torch": "2.13.0"},
            }
        )
    )
    pooled = tmp_path / "pooled.nc"
    ds = xr.Dataset(
        {"pooled": (("date", "channel"), np.zeros((n_dates, 2)))},
        coords={"date": pd.date_range("2005-01-01T06", periods=n_dates, freq="D")},
        attrs=attrs,
    )
    ds.to_netcdf(pooled)
    return prov, pooled


_CFG = {
    "model": {"name": "tiny"},
    "data": {"source": "cds", "path": ["a.nc", "b.nc"]},
    "dates": {"start": "2005-01-01", "end": "2005-01-05", "step_days": 1, "target_hour": 6, "history_hours": 6},
}


def test_run_summary_reads_the_run_records(tmp_path):
    prov, pooled = _write_run_records(
        tmp_path, _CFG, {"checkpoint": "tiny-random-seed3", "tap": "encoder", "skipped_dates": "2005-01-03"}
    )
    s = read_run_summary(prov, pooled)
    assert (s.model, s.checkpoint, s.tap) == ("tiny", "tiny-random-seed3", "encoder")
    assert (s.data_source, s.data_path) == ("cds", "a.nc, b.nc")
    assert (s.n_dates, s.skipped_dates) == (4, ("2005-01-03",))
    assert (s.config_hash, s.git_commit, s.package_versions) == ("feedfacefeedface", "0badc0de", {"torch": "2.13.0"})


def test_run_summary_names_file_and_key_when_missing(tmp_path):
    cfg = {k: v for k, v in _CFG.items() if k != "dates"}
    prov, pooled = _write_run_records(tmp_path, cfg, {"checkpoint": "x", "tap": "backbone"})
    with pytest.raises(ValueError, match=r"provenance\.json: no 'dates' recorded"):
        read_run_summary(prov, pooled)
    prov, pooled = _write_run_records(tmp_path, _CFG, {"tap": "backbone"})
    with pytest.raises(ValueError, match=r"pooled\.nc: no 'checkpoint' attribute"):
        read_run_summary(prov, pooled)


# ---------------------------------------------------------------------------------
# the report of a finished run, in a browser


class _Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: _Node | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[_Node | str] = []

    BLOCK = {"div", "p", "li", "td", "th", "tr", "h1", "h2", "h3", "pre", "table", "ul", "ol", "dd", "dt"}

    def text(self) -> str:
        """The text inside, with a space between blocks and table cells (as a reader sees them)."""
        inner = "".join(c if isinstance(c, str) else c.text() for c in self.children)
        return f" {inner} " if self.tag in self.BLOCK else inner

    def iter(self):
        yield self
        for c in self.children:
            if isinstance(c, _Node):
                yield from c.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, id: str | None = None) -> list[_Node]:
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag)
            and (cls is None or cls in n.attrs.get("class", "").split())
            and (id is None or n.attrs.get("id") == id)
        ]


class _DomTree(HTMLParser):
    """The browser's serialised DOM as a tree (the standard library has no DOM parser)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = _Node("#document", {}, None)
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        node = _Node(tag, {k: v or "" for k, v in attrs}, self.cur)
        self.cur.children.append(node)
        if tag not in self.VOID:
            self.cur = node

    def handle_endtag(self, tag):
        node = self.cur
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.cur = node.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("AURORA_XAI_REQUIRE_BROWSER"):
        pytest.fail(f"AURORA_XAI_REQUIRE_BROWSER is set but none of {BROWSERS} is on PATH")
    pytest.skip(
        f"no headless browser ({', '.join(BROWSERS)}) on PATH: `apt-get install chromium`; "
        "set AURORA_XAI_REQUIRE_BROWSER=1 to make this a failure"
    )


def _dump_dom(browser: str, html: Path, profile: Path) -> _Node:
    """The DOM of ``html`` after its scripts ran (10 s of virtual time), as a tree."""
    proc = subprocess.run(
        [
            browser,
            *BROWSER_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0 and "</html>" in proc.stdout, f"{browser} failed on {html}:\n{proc.stderr[-3000:]}"
    return _DomTree(proc.stdout).root


# Runs in the report's page after the app started: opens each figure's result panel in
# turn, as a reader clicking on it would, and records the text the app shows there.
_CAPTION_PROBE = """
<script>
(function () {
  const paths = Object.keys(results).filter((p) => results[p].mime_type.startsWith("image/"));
  const shown = {};
  let i = 0;
  function step() {
    if (i > 0) { shown[paths[i - 1]] = document.querySelector("nav").textContent; }
    if (i === paths.length) {
      const pre = document.createElement("pre");
      pre.id = "caption-probe";
      pre.textContent = JSON.stringify(shown);
      document.body.appendChild(pre);
      return;
    }
    app.showResultInfo(paths[i]);
    i += 1;
    setTimeout(step, 50);
  }
  setTimeout(step, 50);
})();
</script>
"""


@pytest.mark.workflow
def test_report_opens_on_the_study_front_page(default_run, tmp_path):
    browser = _browser()
    report = tmp_path / "report.html"
    out = run_snakemake(default_run, "--report", str(report))
    assert "WARNING/" not in out.stdout + out.stderr, (out.stdout + out.stderr)[-3000:]  # docutils complaints
    prov = json.loads((default_run / "results/provenance.json").read_text())
    headline = pd.read_csv(default_run / "results/tables/headline.csv")
    figures = sorted(p.relative_to(default_run).as_posix() for p in (default_run / "results/figures").glob("*.png"))
    assert len(figures) >= 12

    dom = _dump_dom(browser, report, tmp_path / "profile")
    (front,) = dom.find_all("div", cls="prose")  # the front page: the workflow description
    text = " ".join(front.text().split())
    assert text.startswith("Does Aurora encode atmospheric structure?")
    for expected in (
        "Model: surrogate, checkpoint file:surrogate.pt:sha256:",
        "; latents tapped at backbone",
        f"Data: synthetic from {prov['config']['data']['path']}",
        "Dates: 2005-01-01 to 2005-12-31, every 1 day at 06 UTC with history 6 h earlier: 365 dates",
        f"Config hash: {prov['config_hash']}",
        f"Git commit: {prov['git_commit']}",
        "embedded default",
    ):
        assert expected in text, f"{expected!r} not on the front page:\n{text[:3000]}"

    # the headline tables, one per analysis, every row, as rendered (in the groups' order)
    tables = [t for t in front.find_all("table") if any("quantity" in h.text() for h in t.find_all("thead"))]
    rendered = [
        [" ".join(td.text().split()) for td in tr.find_all("td")]
        for t in tables
        for tr in t.find_all("tbody")[0].find_all("tr")
    ]
    order = list(GROUPS)
    expected = sorted(headline.to_dict("records"), key=lambda r: order.index(describe(r["metric"]).group))
    assert len(rendered) == len(expected)
    for cells, rec in zip(rendered, expected, strict=True):
        value = "n/a" if pd.isna(rec["value"]) else f"{rec['value']:.4g}"
        assert cells[1].split(" [")[0] == value, rec["metric"]
        assert cells[3].split(" ")[0] == ("" if pd.isna(rec["n"]) else str(int(rec["n"]))), rec["metric"]
    assert "results/tables/headline.csv" in text

    # the figures the front page lists, each a link that opens the app's result panel
    links = [a.attrs["href"] for a in front.find_all("a") if a.attrs.get("href", "").startswith("javascript:app.")]
    shown = sorted(re.fullmatch(r"javascript:app\.showResultInfo\('(.+)'\)", h).group(1) for h in links)
    assert shown == figures
    assert f"{len(figures)} figures" in text
    menu = " ".join(dom.find_all("nav")[0].text().split())
    for section in ("Attribution", "Perturbation", "Regimes", "Interventions", "Layers", "Features", "Headline"):
        assert section in menu, menu

    # each figure's caption, as the app shows it when the figure is opened
    probed = tmp_path / "probed.html"
    page, end, tail = report.read_text().rpartition("</body>")  # the page's own end (libraries hold the string too)
    probed.write_text(page + _CAPTION_PROBE + end + tail)
    (pre,) = _dump_dom(browser, probed, tmp_path / "profile").find_all("pre", id="caption-probe")
    panels = {k: " ".join(v.split()) for k, v in json.loads(pre.text()).items()}
    assert sorted(panels) == figures
    cases = {"great_storm_1987": "Great Storm of 15-16 October 1987", "katrina_2005": "Hurricane Katrina"}
    for path, panel in panels.items():
        case = next((c for c in cases if c in Path(path).stem), None)
        if Path(path).stem.startswith("attribution_truth_"):
            assert f"Attribution against the known answer, {cases[case]}" in panel, (path, panel)
            assert f"(case {case}, sample" in panel and "planted dynamics F" in panel, (path, panel)
        elif Path(path).stem.startswith("attribution_datarand_"):
            assert f"Data-randomisation test, {cases[case]}" in panel, (path, panel)
        elif Path(path).stem == "sae_evaluation":
            assert "Sparse autoencoders of Aurora's tokens, per tap" in panel, (path, panel)
        elif Path(path).stem.startswith("feature_atlas_"):
            assert "Feature atlas of one tap" in panel, (path, panel)
        elif Path(path).stem == "sae_planted_match":
            assert "Planted structures matched to features" in panel and "the control" in panel, (path, panel)
        elif Path(path).stem == "steering":
            assert "Steering dose-response" in panel, (path, panel)
        elif Path(path).stem == "steering_maps":
            assert "Steering response maps" in panel, (path, panel)
        elif Path(path).stem.startswith("attribution_cascade_"):
            assert f"Model-parameter randomisation cascade, {cases[case]}" in panel, (path, panel)
        elif Path(path).stem == "relevance_composites":
            assert "Composite vertical relevance profiles" in panel and "storm-minus-calm" in panel, (path, panel)
        elif Path(path).stem.startswith("relevance_"):
            assert f"{cases[case]} (case {case}, sample" in panel, (path, panel)
        elif Path(path).stem.startswith("perturbation_"):
            assert f"Case {case} (sample" in panel and "north_atlantic sector" in panel, (path, panel)
        elif Path(path).stem.startswith("intervention_"):
            direction = Path(path).stem.removeprefix("intervention_")
            assert f"Intervention along {direction}:" in panel, (path, panel)
            assert "random directions of the same per-level norms" in panel, (path, panel)
        elif path.endswith("storm_calm.png"):
            assert "Storm and calm days of the us box" in panel, (path, panel)
        elif path.endswith("probes.png"):
            assert "Linear probes of physical quantities over the us region (latitudes 24 to 50" in panel, (path, panel)
            assert "randomly initialised model of the same architecture" in panel, (path, panel)
        elif path.endswith("surrogate_skill.png"):
            assert "Skill of the surrogate" in panel and "held-out times of the study's dates" in panel, (path, panel)
        elif path.endswith("layer_sweep.png"):
            assert "Regime statistics at every tap (encoder, backbone.encoder.0" in panel, (path, panel)
            assert "the published tap backbone in red" in panel and "sweep_<statistic>@<tap>" in panel, (path, panel)
        else:
            assert "Latents pooled over the us region (latitudes 24 to 50" in panel, (path, panel)
