"""The quickstart notebook, executed by a real Jupyter kernel, and ctxvec's outputs in notebooks.

``docs/quickstart.ipynb`` runs in an IPython kernel (nbclient + ipykernel) started from a kernel
spec written into a temporary folder, whose command is this interpreter: the notebook runs
against this very environment, whatever kernels the machine has installed. Its outputs must hold
the study's HTML table, the progress bars as widgets, and the attention viewer. Outside
Jupyter, the same progress bars stay text. In a real headless Chromium, the outputs are then put
in a page the way JupyterLab and the classic Notebook insert them, and the viewer must start.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "quickstart.ipynb"
KERNEL = "ctxvec-test"
WIDGET = "application/vnd.jupyter.widget-view+json"


def kernel_manager(root: Path):
    """A kernel manager whose only kernel spec runs ``sys.executable -m ipykernel_launcher``."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "ctxvec (test)",
                "language": "python",
                "env": {
                    "HF_HUB_OFFLINE": "1",
                    "TRANSFORMERS_OFFLINE": "1",
                    "TOKENIZERS_PARALLELISM": "false",
                },
            }
        )
    )
    specs = KernelSpecManager(kernel_dirs=[str(root / "kernels")], ensure_native_kernel=False)
    return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[dict, float]:
    root = tmp_path_factory.mktemp("notebook")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    km = kernel_manager(root / "jupyter")
    assert km.kernel_spec.argv[0] == sys.executable
    work = root / "cwd"
    work.mkdir()
    client = nbclient.NotebookClient(
        nb, km=km, timeout=300, resources={"metadata": {"path": str(work)}},
        store_widget_state=True,
    )  # fmt: skip
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    (root / "executed.ipynb").write_text(nbformat.writes(nb))
    return nb, seconds


def outputs(nb: dict, mime: str) -> list:
    return [
        out["data"][mime]
        for cell in nb["cells"]
        if cell["cell_type"] == "code"
        for out in cell.get("outputs", [])
        if mime in out.get("data", {})
    ]


def test_committed_notebook_is_clean() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_quickstart_runs_in_a_kernel(executed) -> None:
    nb, seconds = executed
    assert seconds < 120, f"the quickstart took {seconds:.0f}s"
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors
    pages = outputs(nb, "text/html")
    study = [p for p in pages if 'class="ctxvec-study"' in p]
    assert len(study) == 1
    page = study[0]
    assert "<table" in page and "bert-step100" in page and "electra-step5" in page
    assert 'src="data:image/png;base64,' in page  # the scatter, inline
    assert "quickstart-run/study/report.html" in page  # relative to the kernel's folder
    assert any('class="ctxvec-viewer"' in p for p in pages)  # the attention viewer
    text = "".join("".join(p) for p in outputs(nb, "text/plain"))
    assert "StudyResult(qa, 6 model(s) x 2 subset(s)" in text  # a short repr, not the tables


def test_progress_bars_are_widgets_in_jupyter(executed) -> None:
    pytest.importorskip("ipywidgets", reason="the notebook extra (ipywidgets) is not installed")
    nb, _ = executed
    # tqdm.auto gave notebook widgets: the progress bars of the study's passes.
    assert len(outputs(nb, WIDGET)) >= 6
    state = nb["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(w["model_name"] == "FloatProgressModel" for w in state.values())


def test_progress_bars_are_text_outside_jupyter(processes) -> None:
    check = (
        "import io, tqdm.auto, tqdm.notebook; f = io.StringIO(); "
        "list(tqdm.auto.tqdm(range(3), file=f, desc='pass')); "
        "print(issubclass(tqdm.auto.tqdm, tqdm.notebook.tqdm_notebook), "
        "'pass: 100%' in f.getvalue())"
    )
    plain = processes.run(processes.python, "-c", check, timeout=None)
    assert plain.stdout.split() == ["False", "True"], plain.stderr
    # A terminal IPython is not Jupyter either.
    ipython = processes.run(
        processes.python, "-m", "IPython", "--no-banner", "--quick", "-c", check, timeout=None
    )
    assert "False True" in ipython.stdout, ipython.stderr


# ------------------------------------------------------------------ real browser

# How the frontends insert an HTML output. JupyterLab (and Notebook 7): innerHTML on a node that
# is not in the page yet, each script replaced by a fresh copy (which runs once the node is
# added). Classic Notebook (jQuery's append): the scripts run at once, before the node is added.
HARNESS = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><div id="cells"></div>
<script>
function lab(html) {
  const node = document.createElement("div");
  node.innerHTML = html;
  for (const old of Array.from(node.querySelectorAll("script"))) {
    const s = document.createElement("script");
    for (const a of old.attributes) s.setAttribute(a.name, a.value);
    s.textContent = old.textContent;
    old.replaceWith(s);
  }
  document.getElementById("cells").appendChild(node);
}
function classic(html) {
  const node = document.createElement("div");
  node.innerHTML = html;
  for (const s of Array.from(node.querySelectorAll("script"))) {
    if (!s.type || s.type === "text/javascript") (0, eval)(s.textContent);
  }
  setTimeout(() => document.getElementById("cells").appendChild(node), 100);
}
function untrusted(html) {
  const node = document.createElement("div");
  node.innerHTML = html;
  node.querySelectorAll("script").forEach((s) => s.remove());
  document.getElementById("cells").appendChild(node);
}
</script></body></html>"""


def test_outputs_render_in_chromium(executed, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    nb, _ = executed
    pages = outputs(nb, "text/html")
    viewer = next(p for p in pages if 'class="ctxvec-viewer"' in p)
    study = next(p for p in pages if 'class="ctxvec-study"' in p)
    (tmp_path / "harness.html").write_text(HARNESS)
    browser.get((tmp_path / "harness.html").as_uri())
    root_id = re.search(r'id="(ctxvec-[0-9a-f]+)"', viewer).group(1)
    for mode in ("lab", "classic", "untrusted"):
        # Each copy its own element ids, as two outputs of a notebook have.
        copy = viewer.replace(root_id, f"{root_id}{mode}")
        browser.execute_script(f"{mode}(arguments[0]); {mode}(arguments[1]);", study, copy)

    def ready(mode: str) -> str | None:
        return browser.find_element(By.ID, f"{root_id}{mode}").get_attribute("data-ready")

    WebDriverWait(browser, 10).until(lambda _: ready("lab") and ready("classic"))
    assert ready("untrusted") is None  # no script ran: the note stays instead
    notes = browser.find_elements(By.CSS_SELECTOR, ".ctxvec-viewer-note")
    assert len(notes) == 1 and "trusted notebook" in notes[0].text  # only the untrusted copy
    title = browser.find_element(By.CSS_SELECTOR, f"#{root_id}classic .title").text
    assert title.startswith("layer ")
    # The study's output needs no script: tables and scatter show in all three.
    tables = browser.find_elements(By.CSS_SELECTOR, ".ctxvec-study table")
    assert len(tables) == 3 * 3 and "bert-step100" in tables[0].text
    images = browser.find_elements(By.CSS_SELECTOR, ".ctxvec-study img")
    assert all(browser.execute_script("return arguments[0].naturalWidth", i) > 200 for i in images)
    browser.save_screenshot(str(tmp_path / "notebook.png"))
