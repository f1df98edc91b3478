"""The HTML forecast report: content, safety (escaping, no network, no overwrite) and how it renders."""

from __future__ import annotations

import base64
import json
import re
import shutil
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

import bayes_scaling as bs
from bayes_scaling import _constants as K
from bayes_scaling.cli import main
from bayes_scaling.errors import FileExistsNoOverwriteError
from bayes_scaling.viz.report import build_report, identifiability_warnings, parse_targets, write_report
from bayes_scaling.viz.typeset import formula_svg, symbol_html

DEMO = Path(__file__).resolve().parents[2] / "models" / "chinchilla_demo.nc"
SECTIONS = ("summary", "data", "model", "diagnostics", "parameters", "forecasts", "compute-optimal", "identifiability")


class Page(HTMLParser):
    """The parts of a page a test looks at: images, links, scripts, ids, table count, text."""

    def __init__(self, text: str):
        super().__init__()
        self.images, self.urls, self.ids, self.tags, self.text = [], [], set(), [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs)
        for name in ("src", "href", "srcset", "poster", "data", "action"):
            if name in attrs:
                self.urls.append(attrs[name])
        if "id" in attrs:
            self.ids.add(attrs["id"])

    def handle_data(self, data):
        self.text.append(data)

    @property
    def body_text(self) -> str:
        return " ".join(self.text)


@pytest.fixture(scope="module")
def demo():
    return bs.load(DEMO)


@pytest.fixture(scope="module")
def demo_report(demo, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "demo.html"
    backtest = _backtest()
    write_report(demo, path, targets=[1e22, "1e24", (70e9, "1.4T")], backtest=backtest, title="Demo <forecast> & co")
    return path


def _backtest() -> pd.DataFrame:
    from scipy import stats

    rng = np.random.default_rng(0)
    rows = []
    for method, width in (("bayes_scaling", 1.0), ("approach3", None)):
        for i in range(30):
            median = 2.0 + 0.01 * i
            loss = median * np.exp(rng.normal(0, 0.02))
            row = {"method": method, "dataset": "synthetic", "loss": loss, "median": median, "extrapolation": 8.0}
            for p in (50, 80, 90, 95):
                z = np.nan if width is None else stats.norm.ppf(0.5 + p / 200) * 0.02
                row[f"lo_{p}"], row[f"hi_{p}"] = median * np.exp(-z), median * np.exp(z)
            row["pit"] = np.nan if width is None else stats.norm.cdf(np.log(loss / median) / 0.02)
            rows.append(row)
    return pd.DataFrame(rows)


def _assert_self_contained(page: Page) -> None:
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    external = [u for u in page.urls if not u.startswith(("data:", "#"))]
    assert not external, external[:3]


def _check_images(page: Page) -> None:
    for img in page.images:
        assert img["src"].startswith("data:image/png;base64,")
        png = base64.b64decode(img["src"].split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
        assert img.get("alt")


# --------------------------------------------------------------------------- content
def test_demo_report_reads_like_a_forecast_memo(demo_report):
    text = demo_report.read_text(encoding="utf-8")
    page = Page(text)
    assert set(SECTIONS) | {"backtest", "residuals"} <= page.ids
    body = page.body_text
    # Data
    assert "training runs" in body and "300" in body and "200" in body and "50 configurations with 2+ seeds" in body
    assert "10.1M to 14.6B" in body and "1e18 to 1e21" in body and "nats/token" in body
    # Model (formulas as inline SVG, titled with their LaTeX) and priors (resolved defaults)
    assert "Student-t tails" in body and r"\bar y_j \sim t_\nu(\log\mu_j" in body
    assert r"S_j \sim \mathrm{Gamma}\left((n_j - 1)/2" in body and "σ" in body and "LogNormal(mu=" in body
    assert text.count("<svg ") >= 5 and text.count('role="img"') == text.count("<svg ")
    assert "Beta(alpha=2, beta=2)" in body and "default" in body
    # Diagnostics verdict, parameter table, forecasts, compute-optimal, identifiability, backtest
    assert "Trustworthy" in body and "Check before use" not in body
    assert "alpha" in body and "r_hat" in body and "ess_bulk" in body
    assert "C = 1e24 (compute-optimal)" in body and "N = 70B, D = 1.4T" in body and "new run [90%]" in body
    assert "Chinchilla N*, D*" in body and "Kaplan N_opt" in body and "1e25" in body
    assert "A and alpha are strongly correlated" in body and "B and beta are strongly correlated" in body
    assert "1,000x beyond the largest fitted compute" in body
    assert "bayes_scaling" in body and "approach3" in body and "90% coverage" in body
    # Figures: frontier, slices, compute-optimal, IsoFLOP, pairs, residuals, calibration
    assert len(page.images) == 7
    _check_images(page)
    assert text.count("<table") >= 8
    _assert_self_contained(page)
    # Escaped title: markup in user text never becomes markup.
    assert "Demo &lt;forecast&gt; &amp; co" in text and "<forecast>" not in text


def test_fake_fit_report_says_check_before_use(fake_fit, tmp_path):
    path = bs.write_report(fake_fit, tmp_path / "fake.html")
    assert path == tmp_path / "fake.html"
    page = Page(path.read_text(encoding="utf-8"))
    body = page.body_text
    # Fabricated draws do not fit the stored runs: PSIS-LOO flags them, and the verdict says so.
    assert "Check before use" in body and "Pareto k" in body and "What to do when a check fails" in body
    assert "prior-data conflict not checked" in body
    assert len(page.images) == 6  # no backtest
    assert "backtest" not in page.ids
    _check_images(page)
    _assert_self_contained(page)
    # Default targets: 10x, 100x, 1000x the largest fitted compute (1e21).
    assert all(f"C = 1e{k} (compute-optimal)" in body for k in (22, 23, 24))


def test_report_refuses_to_overwrite_and_writes_atomically(fake_fit, tmp_path, monkeypatch):
    path = tmp_path / "r.html"
    path.write_text("keep me")
    with pytest.raises(FileExistsNoOverwriteError, match="overwrite=True"):
        write_report(fake_fit, path)
    assert path.read_text() == "keep me"
    with pytest.raises(ValueError, match="'.html'"):
        write_report(fake_fit, tmp_path / "r.txt")

    import bayes_scaling.viz.report as report_module

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_module, "build_report", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(fake_fit, path, overwrite=True)
    assert path.read_text() == "keep me"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # no temporary file left
    monkeypatch.undo()
    write_report(fake_fit, path, overwrite=True, targets=[1e23])
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_text_from_the_data_is_escaped(fake_fit):
    table = _backtest()
    table.loc[table["method"] == "approach3", "method"] = "<script>alert(1)</script>"
    text = build_report(fake_fit, targets=[1e22], backtest=table, title="<img src=x onerror=alert(1)>")
    assert "<script>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    _assert_self_contained(Page(text))


def test_targets_budgets_pairs_and_defaults():
    parsed = parse_targets([1e24, "70B", ("70B", 1.4e12)], largest_flops=1e21)
    assert [t["kind"] for t in parsed] == ["budget", "budget", "point"]
    assert parsed[1]["flops"] == 7e10 and parsed[2]["params"] == 7e10 and parsed[2]["tokens"] == 1.4e12
    assert [t["flops"] for t in parse_targets(None, 3e20)] == [1e22, 1e23, 1e24]
    assert parse_targets(1e24, None)[0]["flops"] == 1e24
    with pytest.raises(ValueError, match="compute budget or an"):
        parse_targets([(1, 2, 3)], 1e21)
    with pytest.raises(ValueError, match="empty"):
        parse_targets([], 1e21)


def test_identifiability_warnings_of_a_well_identified_fabricated_fit(fake_fit):
    # Independent 2% jitter: no correlations, narrow exponents, no prior stored: nothing to warn.
    assert identifiability_warnings(fake_fit) == []


def test_identifiability_warns_on_wide_exponents():
    from bayes_scaling.testing import fabricated_fit

    loose = fabricated_fit(relative_spread=0.15, random_seed=2)
    text = " ".join(identifiability_warnings(loose))
    assert "90% interval of alpha is wide" in text and "allocation exponent a" in text


# --------------------------------------------------------------------------- every law
def _law_fit(fake_fit, law: str, options: dict, values: dict, random_seed: int = 0):
    """``fake_fit``'s noise draws and data with the draws of another law: values * (1 + 2% noise),
    added for log-scale parameters."""
    from bayes_scaling.inference.model import ScalingModel

    spec = ScalingModel(law=law, law_options=options, likelihood=fake_fit.noise.likelihood)
    post = fake_fit.idata["posterior"].to_dataset()
    shape = (post.sizes["chain"], post.sizes["draw"])
    rng = np.random.default_rng(random_seed)
    noise = [n for n in post.data_vars if n not in fake_fit.law.parameters and n not in fake_fit.law.reported]
    drawn = post[noise].copy()
    for name, value in values.items():
        z = 0.02 * rng.standard_normal(shape)
        drawn[name] = (("chain", "draw"), value + z if name.startswith("log") else value * (1 + z))
    tree = fake_fit.idata.copy()
    tree["posterior"] = drawn
    stored = {K.LAW_INPUT_DATA[n] for n in spec.law_component.inputs if n in K.LAW_INPUT_DATA}
    if stored:  # (unique tokens: every token unique, one epoch)
        const = tree["constant_data"].to_dataset()
        tree["constant_data"] = const.assign(**{name: const["log_d"] for name in stored})
    return bs.ScalingFit(tree, spec_dict=spec.to_dict(), scale=fake_fit.scale, flops_per_param_token=6.0)


LAW_FITS = {
    "kaplan": ({}, {"log_loss_ref": np.log(2.9), "alpha_D": 0.1, "ratio": 0.8, "delta": 0.2}),
    "bnsl": ({"x": "C"}, {"E": 1.7, "log_b_ref": 0.0, "c0": 0.3, "log_d1": np.log(3e19), "c1": 0.05, "f1": 1.0}),
    "overtrain": ({}, {"E": 1.7, "log_a_ref": np.log(0.5), "log_b_ref": np.log(0.5), "eta": 0.15}),
    "data_constrained": (
        {},
        {"E": 1.7, "log_AN_ref": -0.5, "log_BD_ref": -0.5, "alpha": 0.34, "beta": 0.28}
        | {"log_rstar_D": np.log(15.4), "log_rstar_N": np.log(5.3)},
    ),
}


def _section(text: str, start: str, end: str | None) -> str:
    tail = text.split(f'id="{start}"', 1)[1]
    return tail.split(f'id="{end}"', 1)[0] if end else tail


# One law in the fast loop; the others, each a real small fit, with the slow tests.
@pytest.mark.parametrize(
    "name", [name if name == "kaplan" else pytest.param(name, marks=pytest.mark.slow) for name in sorted(LAW_FITS)]
)
def test_report_of_any_law_asks_the_law(fake_fit, name):
    options, values = LAW_FITS[name]
    fit = _law_fit(fake_fit, name, options, values)
    law = fit.law
    text = build_report(fit, targets=[1e22, (70e9, "1.4T")])
    page = Page(text)
    assert set(SECTIONS) <= page.ids
    _assert_self_contained(page)
    _check_images(page)
    # The law's own formula and parameters, with its symbols and meanings; nothing of Chinchilla's.
    model = _section(text, "model", "diagnostics")
    assert str(escape(law.formula)) in model and law.description.split(":")[0] in model
    assert r"\beta/(\alpha+\beta)" not in text
    if not {"alpha", "beta"} <= set(law.reported):
        assert "β/(α+β)" not in text and "log A − α log N_r" not in text
    parameters = _section(text, "parameters", "forecasts")
    for reported in law.reported:
        assert f">{reported}<" in parameters and str(escape(law.meaning(reported))) in parameters
    assert str(symbol_html(law.symbol(law.exponents[0]))) in parameters
    for absent in {"alpha", "beta", "A", "B"} - {*law.reported, *law.parameters}:
        assert f">{absent}<" not in parameters
    allocation = _section(text, "compute-optimal", "identifiability")
    if law.allocation_kind == "not_applicable":
        assert "Not applicable: the bnsl law is a function of C alone" in allocation
        assert "<img" not in allocation and "<table" not in allocation and len(page.images) == 3
        assert "D/N = " in _section(text, "forecasts", "compute-optimal")
    elif law.allocation_kind == "closed_form":
        assert f'aria-label="{escape(law.allocation)}"' in allocation and "Chinchilla N*, D*" in allocation
        assert len(page.images) == 6
    else:
        assert "no closed-form allocation: N* is found numerically" in allocation and len(page.images) == 6


def test_report_of_a_user_defined_law(fake_fit):
    from pymc_extras.prior import Prior

    from bayes_scaling.laws import registry

    bs.define_law(
        "test_report_user_law",
        lambda N, D, E, a, b, alpha: E + a * (N / 1e8) ** -alpha + b * (D / 1e10) ** -alpha,
        {"E": Prior("LogNormal", mu=0.5, sigma=0.3), "a": Prior("LogNormal", mu=0.0, sigma=1.0),
         "b": Prior("LogNormal", mu=0.0, sigma=1.0), "alpha": Prior("LogNormal", mu=-1.2, sigma=0.4)},
        meanings={"alpha": "<shared exponent of N and D>"},
        exponents=("alpha",),
    )  # fmt: skip
    try:
        fit = _law_fit(fake_fit, "test_report_user_law", {}, {"E": 1.7, "a": 1.5, "b": 0.5, "alpha": 0.3})
        text = build_report(fit, targets=[1e22])
    finally:
        registry._REGISTRY.pop("test_report_user_law")
    assert r'aria-label="L(N, D) = \mathrm{test\_report\_user\_law}(N, D)"' in text
    parameters = _section(text, "parameters", "forecasts")
    assert ">α<" in parameters and "&lt;shared exponent of N and D&gt;" in parameters and ">beta<" not in parameters
    assert "no closed-form allocation: N* is found numerically" in _section(text, "compute-optimal", "identifiability")
    _assert_self_contained(Page(text))


def test_formulas_and_symbols_from_a_law_cannot_become_markup():
    svg = formula_svg(r"L = E + \mathrm{<script>alert(1)</script>}")
    code = formula_svg(r"\frac{<img src=x onerror=alert(1)>")  # mathtext cannot parse it
    assert svg.startswith("<svg ") and "<script" not in svg and "&lt;script&gt;" in svg
    assert code == "<code>\\frac{&lt;img src=x onerror=alert(1)&gt;</code>"
    assert str(symbol_html(r"\alpha_{<b>}")) == "α<sub>&lt;b&gt;</sub>"
    ids = re.findall(r'id="([^"]+)"', svg + formula_svg("E"))
    assert len(ids) == len(set(ids))  # two formulas on one page share no id


def test_every_registered_formula_is_typeset():
    """Each law's formula and allocation and each likelihood's formula draw as SVG (mathtext
    parses them), not as the LaTeX source."""
    from bayes_scaling.noise import available_likelihoods, get_likelihood

    formulas = [get_likelihood(name).formula for name in available_likelihoods()]
    for name in bs.available_laws():
        law = bs.get_law(name)
        law = law.with_options(**dict.fromkeys(law.missing_options, 1.69))
        formulas += [law.formula, law.allocation] if law.allocation else [law.formula]
    for tex in formulas:
        assert formula_svg(tex).startswith("<svg "), tex


def test_tables_escape_everything_but_markup_columns():
    from markupsafe import Markup

    from bayes_scaling.viz._html import table

    frame = pd.DataFrame({"<th>": ["<td>", "1.5"], "sym": [Markup("α<sub>N</sub>"), Markup("β")]}, index=["<i>", "j"])
    html = str(table(frame, "<caption> & co", markup=("sym",)))
    assert "<th>" not in html.replace("<th ", "") and "&lt;th&gt;" in html and "&lt;td&gt;" in html
    assert "&lt;i&gt;" in html and "&lt;caption&gt; &amp; co" in html and "α<sub>N</sub>" in html


# --------------------------------------------------------------------------- CLI
def test_cli_report(tmp_path, fake_fit, capsys):
    model = tmp_path / "fit.nc"
    fake_fit.save(model)
    out = tmp_path / "report.html"
    backtest = tmp_path / "backtest.csv"
    _backtest().to_csv(backtest, index=False)
    argv = ["report", str(model), "--out", str(out), "--target", "1e24", "70B,1.4T", "--backtest", str(backtest)]
    assert main(argv) == 0
    assert "Wrote report to" in capsys.readouterr().out
    page = Page(out.read_text(encoding="utf-8"))
    assert len(page.images) == 7 and "N = 70B, D = 1.4T" in page.body_text
    before = out.read_bytes()
    assert main(["report", str(model), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--overwrite" in err and "Traceback" not in err
    assert out.read_bytes() == before
    assert main(["report", str(model), "--out", str(out), "--overwrite", "--title", "Again"]) == 0
    assert "<title>Again</title>" in out.read_text(encoding="utf-8")


def test_cli_report_errors_are_one_line(tmp_path, capsys):
    assert main(["report", "missing.nc", "--out", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no saved fit at 'missing.nc'") and "Traceback" not in err
    assert main(["report", "missing.nc", "--out", str(tmp_path / "r.pdf")]) == 1
    assert "'.html'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", "missing.nc", "--out", "r.html", "--target", "1,2,3"])
    assert "N,D" in capsys.readouterr().err


# --------------------------------------------------------------------------- headless Chromium
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


def _chromium() -> tuple[str, str]:
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    return browser, driver


def test_report_renders_offline_in_headless_chromium(demo_report, tmp_path):
    """Every image decodes, nothing is fetched from the network, and the page is screenshotted."""
    browser, driver_path = _chromium()
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extras")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        url = demo_report.resolve().as_uri()
        driver.get(url)
        images = driver.execute_script(
            "return Array.from(document.images).map(i => ({complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}))"
        )
        assert len(images) == 7
        assert all(i["complete"] and i["w"] > 300 and i["h"] > 200 for i in images), images
        # Network: every request the page made (not chromedriver's own start page) is the file or a data: URL.
        events = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
        requests = [
            e["params"]
            for e in events
            if e["method"] == "Network.requestWillBeSent" and e["params"].get("documentURL") == url
        ]
        assert requests, "no request of the page was recorded"
        fetched = {r["request"]["url"] for r in requests}
        assert all(u == url or u.startswith("data:") for u in fetched), sorted(fetched)[:5]
        resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert all(name.startswith("data:") for name in resources), resources
        assert driver.title == "Demo <forecast> & co"
        headings = driver.execute_script("return Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
        assert headings[0] == "Bottom line" and any("Diagnostics" in h for h in headings)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1},
            },
        )
    finally:
        driver.quit()
    png = base64.b64decode(shot["data"])
    screenshot = tmp_path / "report.png"
    screenshot.write_bytes(png)
    import matplotlib.image as mpimg

    image = mpimg.imread(screenshot)
    assert image.shape[0] > 4000 and image.shape[1] == 1280
    assert image[..., :3].std() > 0.05


def test_page_parser_sees_external_resources():
    # The checks above rely on this parser: it must catch each kind of external reference.
    page = Page("<img src='http://x/y.png'><link href='https://x/s.css'><script src='//x/a.js'></script>")
    with pytest.raises(AssertionError):
        _assert_self_contained(page)
    assert re.search("script", " ".join(page.tags))


def test_report_tabulates_n_star_under_each_law(fake_fit):
    """laws=: N* under each law fitted to the same runs, and how far their medians disagree."""
    other = fake_fit.with_allocation_sd(0.0)  # stands in for another law's fit: another band
    from bayes_scaling.testing import fabricated_fit

    shifted = fabricated_fit({"alpha": 0.30, "beta": 0.30})
    html = build_report(fake_fit, laws={"tilted": shifted, "no drift": other})
    assert "Compute-optimal N* under each law" in html
    assert "largest / smallest median" in html and "chinchilla" in html and "tilted" in html


def test_the_reports_allocation_figure_is_the_benchmarks():
    """The report quotes the allocation benchmark's pooled coverage: the two must agree."""
    from bayes_scaling.viz.report import ALLOCATION_BENCHMARK_COVERAGE

    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "allocation.md"
    line = next(x for x in results.read_text().splitlines() if x.startswith("pooled 90% coverage of IsoFLOP minima:"))
    assert line.split(":")[1].split()[0] == ALLOCATION_BENCHMARK_COVERAGE


def test_the_report_says_where_the_drifts_came_from(fake_fit):
    from bayes_scaling.evaluation.drift import DriftCalibration, Evidence

    default = build_report(fake_fit)
    assert "κ is the package default, chosen by backtests" in default and "sized from these runs" not in default
    evidence = Evidence(p=-40.0, q=1e4, prior_sd=0.0275)
    allocation = Evidence(p=1.0, q=400.0, prior_sd=0.06)
    calibration = DriftCalibration(1e20, 30, 10, evidence, allocation, n_budgets=2, persistence=0.7)
    html = build_report(calibration.apply(fake_fit))
    assert "κ was sized from these runs" in html and "κ is the package default" not in html
    assert f"κ = {calibration.forecast_drift[0]:.3g}" in html and f"λ = {calibration.allocation_sd:.3g}" in html
    assert str(escape(calibration.describe())) in html
    assert f"m = {calibration.forecast_drift[1]:+.3g}" in html and "carried forward" in html
    # the allocation callout says the same of lambda, rounded as the text above
    lam = re.escape(f"{calibration.allocation_sd:.3g}")
    assert re.search(rf"&lambda; = {lam} decades of N\* per decade of compute,\s+sized from these runs", html)
    # set again by hand: no longer what the runs said
    again = build_report(calibration.apply(fake_fit).with_extrapolation_sd(0.01))
    assert "κ differs from the package default (0.025): it was set for this fit" in again
    assert "sized from these runs" not in again
