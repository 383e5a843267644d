"""The step-through page in a real browser: headless Chromium opens it from disk.

Needs Debian's ``chromium`` and ``chromium-driver`` packages and the ``selenium`` package
(the system chromedriver is used, never a downloaded one). Without them these tests skip,
except in CI (``CHAINRULE_REQUIRE_TOOLS=1``), where a missing browser fails. Screenshots go
to ``$CHAINRULE_ARTIFACTS`` (default: a pytest temporary folder).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.core.graph import walk
from chainrule.viz import page
from chainrule.viz.trace import record

CHROMEDRIVER = "/usr/bin/chromedriver"


def _browser_binary() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing(msg: str) -> None:
    msg += " (apt-get install chromium chromium-driver; pip install selenium)"
    if os.environ.get("CHAINRULE_REQUIRE_TOOLS") == "1":
        pytest.fail(msg + " [CHAINRULE_REQUIRE_TOOLS=1: a skip here would hide it]")
    pytest.skip(msg)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module, driven by Selenium and the system driver."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("the selenium package is not installed: the page is not tested in a browser")
    binary = _browser_binary()
    if binary is None or not Path(CHROMEDRIVER).exists():
        _missing(
            "Debian's chromium/chromium-driver are not installed: the page is not "
            "tested in a browser"
        )
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        "--allow-file-access-from-files",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = os.environ.get("CHAINRULE_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf)")


def shown(text: str) -> float | np.ndarray:
    """The number(s) of a shown value: a scalar, a small array, or a summary's norm."""
    if text.startswith("shape"):
        return float(re.search(r"norm ([-\d.e+]+)", text).group(1))
    vals = [float(v) for v in NUMBER.findall(text)]
    return vals[0] if len(vals) == 1 else np.array(vals)


def expected(a: np.ndarray, max_elements: int = 12) -> float | np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.size > max_elements:
        return float(np.linalg.norm(a))
    return float(a.reshape(-1)[0]) if a.size == 1 else a.reshape(-1)


def close(got, want, precision: int) -> bool:
    return np.allclose(got, want, rtol=10.0 ** (1 - precision), atol=10.0**-precision)


def press(driver, key: str, times: int = 1) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(driver)
    for _ in range(times):
        chain.send_keys(key)
    chain.perform()


def panel_numbers(driver, cls: str) -> dict[str, str]:
    """{target: shown number} of the panel's rows of class ``cls``."""
    return driver.execute_script(
        "var out={};document.querySelectorAll('#panel .row.'+arguments[0]+' .line')"
        ".forEach(function(l){var n=l.querySelector('.num');if(n)out[l.dataset.target]="
        "n.textContent;});return out;",
        cls,
    )


LAYOUT_PROBLEMS = """
var P=[];
function bb(e){var b=e.getBBox();return {l:b.x,t:b.y,r:b.x+b.width,b:b.y+b.height};}
function hit(a,b){return a.l<b.r-0.5&&b.l<a.r-0.5&&a.t<b.b-0.5&&b.t<a.b-0.5;}
var boxes=[].map.call(document.querySelectorAll('#graph .node'),function(g){
  var r=bb(g.querySelector('rect'));
  g.querySelectorAll('text').forEach(function(t){var b=bb(t);
    if(t.textContent&&(b.l<r.l-0.5||b.r>r.r+0.5||b.t<r.t-0.5||b.b>r.b+0.5))
      P.push('text '+t.textContent+' sticks out of '+g.dataset.name);});
  return [g.dataset.name,r];});
var labels=[].filter.call(document.querySelectorAll('#graph .edge text'),function(t){
  return t.textContent;}).map(function(t){
  return [t.parentNode.dataset.edge+' '+t.textContent,bb(t)];});
boxes.forEach(function(a,i){boxes.slice(i+1).forEach(function(b){
  if(hit(a[1],b[1]))P.push('node '+a[0]+' overlaps node '+b[0]);});});
labels.forEach(function(a,i){
  boxes.forEach(function(b){if(hit(a[1],b[1]))P.push('label '+a[0]+' overlaps node '+b[0]);});
  labels.slice(i+1).forEach(function(b){
    if(hit(a[1],b[1]))P.push('label '+a[0]+' overlaps label '+b[0]);});});
return P;"""

CURRENT_OUT_OF_VIEW = """
var g=document.querySelector('#graph .node.current');if(!g)return null;
var G=document.getElementById('graph'),r=g.querySelector('rect').getBoundingClientRect(),
    c=G.getBoundingClientRect(),l=c.left+G.clientLeft,t=c.top+G.clientTop;
var inside=r.left>=l-0.5&&r.right<=l+G.clientWidth+0.5&&r.top>=t-0.5&&
    r.bottom<=t+G.clientHeight+0.5&&r.left>=0&&r.top>=0&&r.right<=innerWidth&&
    r.bottom<=innerHeight;
return inside?null:[g.dataset.name,r.left,r.top,r.right,r.bottom,l,t,G.clientWidth,
                    G.clientHeight];"""


def layout_problems(driver) -> list[str]:
    """Overlaps in the drawn graph: label/box, label/label, box/box, or text outside its box."""
    return driver.execute_script(LAYOUT_PROBLEMS)


def step_through(driver, out: cr.Tensor, html: Path, precision: int, names=None) -> int:
    """Open the page, go forward and back through every step, check every number shown."""
    from selenium.webdriver.common.keys import Keys

    tr = record(out, names=names)  # the same names as the page
    by_name = {tr.name(t): t for t in [n.tensor for n in walk([out])] + tr.leaves}
    for t in by_name.values():
        if t._op is not None:
            t.retain_grad()
    out.backward(retain_graph=True)  # the engine's own gradients
    driver.get(html.as_uri())
    assert driver.find_element("css selector", "body").get_attribute("data-step") == "0"
    assert layout_problems(driver) == []
    n = int(
        driver.execute_script(
            "return document.querySelectorAll('#panel').length && "
            "JSON.parse(document.getElementById('chainrule-data')"
            ".textContent).steps.length"
        )
    )
    checked = 0
    for k in range(1, n + 1):
        press(driver, Keys.ARROW_RIGHT)
        assert driver.find_element("css selector", "body").get_attribute("data-step") == str(k)
        current = driver.find_elements("css selector", "#graph .node.current")
        assert len(current) == 1
        name = current[0].get_attribute("data-name")
        # the graph pane scrolled so that the current node's box is wholly in view
        assert driver.execute_script(CURRENT_OUT_OF_VIEW) is None, (k, name)
        up = panel_numbers(driver, "upstream")
        assert set(up) == {name}
        assert close(shown(up[name]), expected(by_name[name].grad.data), precision), (
            name,
            up[name],
        )
        for target, text in panel_numbers(driver, "sums").items():
            # a running sum is what has arrived so far; once complete, the final gradient
            line = driver.execute_script(
                "return document.querySelector('#panel .row.sums .line[data-target=\"'+"
                "arguments[0]+'\"]').textContent",
                target,
            )
            if "complete" in line:
                assert close(shown(text), expected(by_name[target].grad.data), precision)
            checked += 1
        downs = panel_numbers(driver, "downstream")
        assert downs, name
        checked += 1 + len(downs)
    press(driver, Keys.ARROW_RIGHT)  # the final view
    rows = driver.find_elements("css selector", "#panel tr.leafrow")
    assert rows
    for r in rows:
        target = r.get_attribute("data-target")
        grad = r.find_element("css selector", "td.grad").text
        assert close(shown(grad), expected(by_name[target].grad.data), precision), target
        checked += 1
    press(driver, Keys.ARROW_LEFT, n + 1)  # and all the way back
    assert driver.find_element("css selector", "body").get_attribute("data-step") == "0"
    return checked


def test_sigmoid_neuron_step_by_step(browser, artifacts, tmp_path):
    from selenium.webdriver.common.by import By

    p = {
        k: cr.Tensor(v, requires_grad=True, name=k)
        for k, v in dict(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0).items()
    }
    f = 1 / (1 + cr.exp(-(p["w0"] * p["x0"] + p["w1"] * p["x1"] + p["w2"])))
    html = tmp_path / "neuron.html"
    page(f, html, precision=2)
    assert step_through(browser, f, html, 2) > 10
    # the lecture's numbers at the first gate (the div): ∂f/∂t7 = -0.53
    browser.get(html.as_uri())
    browser.find_element(By.ID, "next").click()
    browser.find_element(By.ID, "next").click()
    assert panel_numbers(browser, "upstream") == {"t7": "-0.53"}
    browser.find_element(By.ID, "prev").click()
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-step") == "1"
    browser.find_element(By.ID, "last").click()
    grads = {
        r.get_attribute("data-target"): r.find_element(By.CSS_SELECTOR, "td.grad").text
        for r in browser.find_elements(By.CSS_SELECTOR, "#panel tr.leafrow")
    }
    assert grads == {"w0": "-0.20", "x0": "0.39", "w1": "-0.39", "x1": "-0.59", "w2": "0.20"}
    assert browser.save_screenshot(str(artifacts / "page-sigmoid-neuron.png"))


def viewport(driver, width: int, height: int) -> None:
    """Resize the window so that the page's viewport is width x height CSS pixels."""
    driver.set_window_size(width, height)
    w, h = driver.execute_script("return [innerWidth, innerHeight]")
    driver.set_window_size(2 * width - w, 2 * height - h)


def test_two_layer_mlp_step_by_step(browser, artifacts, tmp_path):
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 6, rng=rng), nn.ReLU(), nn.Linear(6, 3, rng=rng))
    X = rng.normal(size=(8, 4))
    y = rng.integers(0, 3, 8)
    loss = nn.functional.cross_entropy(model(X), y)
    html = tmp_path / "mlp.html"
    names = {"model": model, "X": X, "y": y}
    pg = page(loss, html, names=names)
    assert {n["name"] for n in pg.data["nodes"]} >= {"model.0.weight", "model.2.bias"}
    viewport(browser, 1400, 800)
    try:
        assert step_through(browser, loss, html, 4, names=names) > 8
        browser.get(html.as_uri())
        # the whole graph fits a 1400x800 viewport: no scrolling, in the pane or the page
        assert browser.execute_script(
            "var G=document.getElementById('graph'),d=document.documentElement;"
            "return [innerWidth,innerHeight,G.scrollWidth<=G.clientWidth,"
            "G.scrollHeight<=G.clientHeight,d.scrollWidth<=innerWidth,"
            "d.scrollHeight<=innerHeight]"
        ) == [1400, 800, True, True, True, True]
        check_mlp_steps(browser, artifacts)
    finally:
        browser.set_window_size(1400, 900)


def check_mlp_steps(browser, artifacts) -> None:
    press(browser, "\ue014")  # → : the cross-entropy step
    rule = browser.execute_script("return document.querySelector('#panel .row.rule').textContent")
    assert "softmax(t3) − onehot(y)" in rule
    press(browser, "\ue014")
    rule = browser.execute_script("return document.querySelector('#panel .row.rule').textContent")
    assert "dmodel.2.weight = dt3ᵀ · t2" in rule
    assert browser.save_screenshot(str(artifacts / "page-mlp.png"))


def test_ner_size_graph_scrolls_to_each_step(browser, artifacts, tmp_path):
    """The NER tagger's CRF loss (~50 nodes, ~30 columns, edges that skip columns): no
    overlaps, every step scrolled into view, and "fit graph" shows it all at once."""
    from chainrule.apps.ner.crf import crf_nll
    from chainrule.apps.ner.model import WindowTagger

    rng = np.random.default_rng(0)
    m = WindowTagger(
        {"word": 20, "caps": 4},
        {"word": 5, "caps": 2},
        window=1,
        n_tags=5,
        hidden=8,
        decoder="crf",
        rng=rng,
    )
    mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=bool)
    ids = {"word": rng.integers(0, 20, (7, 3)), "caps": rng.integers(0, 4, (7, 3))}
    start, trans, end = m.crf_params()
    loss = crf_nll(
        m.padded(m.scores(ids), mask), rng.integers(0, 5, mask.shape), mask, start, trans, end
    )
    html = tmp_path / "ner.html"
    pg = page(loss, html, names={"model": m})
    assert len(pg.data["nodes"]) > 40
    assert step_through(browser, loss, html, 4, names={"model": m}) > 40
    browser.get(html.as_uri())
    press(browser, "", 20)
    assert browser.execute_script(CURRENT_OUT_OF_VIEW) is None
    assert browser.save_screenshot(str(artifacts / "page-ner.png"))
    fit = browser.find_element("css selector", "#fit")
    assert fit.is_displayed()
    fit.click()  # the whole graph, scaled down
    assert browser.execute_script(
        "var G=document.getElementById('graph');return G.scrollWidth<=G.clientWidth"
    )
    assert layout_problems(browser) == []
    assert browser.execute_script(CURRENT_OUT_OF_VIEW) is None
    assert browser.save_screenshot(str(artifacts / "page-ner-fit.png"))


def test_hostile_names_and_values_render_as_text(browser, tmp_path):
    a = cr.Tensor([1e308, np.nan], requires_grad=True, name="<script>alert('x')</script>")
    b = cr.Tensor(2.0, requires_grad=True, name='"><img src=x onerror=alert(1)>')
    with np.errstate(all="ignore"):
        out = (a * b).sum()
    html = tmp_path / "hostile.html"
    page(out, html, title="</script><b>bold</b>")
    browser.get(html.as_uri())
    assert browser.execute_script("return document.querySelectorAll('img,b').length") == 0
    assert browser.execute_script("return document.scripts.length") == 2  # data + the page's
    press(browser, "\ue010")  # End: the final view
    text = browser.find_element("css selector", "#panel").text
    assert "<script>alert('x')</script>" in text and '"><img src=x onerror=alert(1)>' in text
    assert "[1.0000e+308, nan]" in text and "nan" in text
    press(browser, "\ue011")  # Home, then → : the first step
    press(browser, "\ue014", 2)
    assert "inf" in browser.find_element("css selector", "#panel").text
    assert browser.title == "</script><b>bold</b>"
    logs = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not logs, logs
