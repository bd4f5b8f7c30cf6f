"""fastei.reproduce: a tiny but complete study, run twice; the paper's study as data."""

import base64
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fastei.batch import estimate
from fastei.cli import main
from fastei.io import read_run
from fastei.plot import single_edge_curves
from fastei.reproduce import GROUPS, LONG, REDUNDANT, paper_study, reproduce
from fastei.results import table
from fastei.train import preset, train
from tests.test_report import Page, assert_self_contained

IRIS_FIGURES = {"fig1abc-edges.png", "fig1def-two-input-ei.png",
                "fig3-sigmoid-decomposition.png", "fig2a-iris-ei.png", "fig4a-iris-plane.png",
                "fig5a-iris-phi.png", "fig6-convergence-bins.png",
                "fig7-convergence-widths.png"}


def tiny(which, epochs, quick=True):
    """The study with one seed, a few epochs and very small measuring budgets."""
    return paper_study(which, quick=quick, seeds=(1,), epochs=epochs).replace(
        samples=2000, sensitivity_samples=200, cells=100, points_per_cell=64, edge_step=0.5,
        edge_samples=None, surface_points=3, convergence_samples=1000, fig6_bins=(8,),
        fig7_widths=(2, 3))


@pytest.fixture(scope="module")
def iris_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    messages = []
    return folder, reproduce(folder, tiny("iris", 20), progress=messages.append), messages


def embedded(html):
    """``{file name: bytes}`` of every image of the page (the name under each figure)."""
    page = Page(html)
    names = re.findall(r'<p class="file">([^<]+)</p>', html)
    images = [base64.b64decode(src.partition(",")[2]) for src in page.attributes("src")]
    assert len(names) == len(images)
    return dict(zip(names, images, strict=True))


def test_the_report_embeds_every_figure_made(iris_report):
    folder, result, messages = iris_report
    assert result.index == folder / "index.html"
    assert {path.name for path in result.figures} == IRIS_FIGURES
    html = result.index.read_text(encoding="utf-8")
    assert_self_contained(html)
    images = embedded(html)
    assert set(images) == IRIS_FIGURES
    for path in result.figures:
        assert path.parent == folder and images[path.name] == path.read_bytes()
    assert result.trained == ("iris-seed1",) and result.reused == ()
    assert messages[0] == "training iris-seed1 (20 epochs)" and messages[-1].startswith("drawing")


def test_captions_state_the_settings_and_the_papers_peaks(iris_report):
    text = " ".join(" ".join(Page(iris_report[1].index.read_text(encoding="utf-8")).text).split())
    grid = np.arange(0.0, 10.25, 0.5)  # the tiny study's edge_step
    for activation, claim in (("sigmoid", "e = 2.718"), ("tanh", "coth(1) = 1.313"),
                              ("relu", "1 = 1.000")):
        peaks = single_edge_curves(activation, weights=grid,
                                   overflow="drop" if activation == "relu" else "clip").peak_weight
        found = ", ".join(f"{w:.3g} ({b} bins)" for b, w in peaks.items())
        assert f"{activation}: {found} against the paper's {claim}" in text
    assert "plug-in estimates from 2,000 joint noise samples (sensitivity 200 per node), 8 bins" \
        in text
    assert "Plug-in against converged EI at the last snapshot" in text
    # one row per layer of the final snapshot: run, epoch, layer, then numbers
    rows = re.findall(r"iris-seed1 20 (\d) (\d+\.\d+) (\d+\.\d+) (\d+\.\d+) (yes|no)", text)
    assert [int(r[0]) for r in rows] == [0, 1, 2]
    for _, plug_in, converged, error, differs in rows:
        assert (abs(float(plug_in) - float(converged)) > float(error)) == (differs == "yes")


def test_a_second_run_computes_nothing_and_retrains_damaged_runs(iris_report):
    folder, first, _ = iris_report
    # 2 snapshots x 3 layers plug-in, 3 layers of the last snapshot converged
    assert (first.computed, first.stored) == (9, 0)
    run_file = folder / "runs" / "iris-seed1.h5"
    before = run_file.read_bytes()
    drawn = {path.name: path.read_bytes() for path in first.figures}
    messages = []
    again = reproduce(folder, tiny("iris", 20), progress=messages.append)
    assert again.trained == () and again.reused == ("iris-seed1",)
    assert (again.computed, again.stored) == (0, 9)
    assert "nothing to compute: all 9 measuring tasks were stored in the run files already; " \
           "drawing only" in messages
    assert messages[-1] == ("drawing Figs. 6 and 7 (convergence with samples), their traces from "
                            "convergence-traces.json (same settings)")
    for what, name in (("Fig. 1a-c (single edges), the curves", "single-edges.json"),
                       ("Figs. 1d-f and 3 (two-input layers), the surfaces",
                        "two-input-surfaces.json")):
        assert f"drawing {what} from {name} (same settings)" in messages
    assert run_file.read_bytes() == before
    assert {path.name: path.read_bytes() for path in again.figures} == drawn
    assert {p.name for p in again.figures} == IRIS_FIGURES
    assert _final_numbers(again.index) == _final_numbers(first.index)

    # a run stopped early (fewer epochs than asked) is trained again, in full
    train(preset("iris", seed=1, epochs=10), output=run_file, overwrite=True)
    repaired = reproduce(folder, tiny("iris", 20))
    assert repaired.trained == ("iris-seed1",) and (repaired.computed, repaired.stored) == (9, 0)
    assert read_run(run_file).snapshots[-1].epoch == 20


def test_a_killed_reproduction_computes_only_what_is_missing(tmp_path):
    slow = "tiny('iris', 20).replace(samples=2_000_000)"
    script = (f"from tests.test_reproduce import tiny\nfrom fastei.reproduce import reproduce\n"
              f"reproduce({str(tmp_path)!r}, {slow}, workers=1)")
    process = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[1],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_file = tmp_path / "runs" / "iris-seed1.h5"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if table(run_file):
                break
        except (OSError, ValueError):  # not written yet
            pass
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    stored = len(table(run_file)) // 3  # three values a task
    assert 0 < stored < 9
    again = reproduce(tmp_path, tiny("iris", 20).replace(samples=2_000_000))
    assert again.reused == ("iris-seed1",)
    assert (again.computed, again.stored) == (9 - stored, stored)
    plug_in = sorted((r["snapshot"], r["span_start"], r["measure"], r["value"])
                     for r in table(run_file) if r["method"] == "sampled")
    whole = tmp_path / "whole.h5"
    estimate(run_file, store=whole, samples=2_000_000, sensitivity_samples=200)
    assert plug_in == sorted((r["snapshot"], r["span_start"], r["measure"], r["value"])
                             for r in table(run_file, store=whole))


def _final_numbers(index):
    """The text of the report's tables (every stored value they show)."""
    html = index.read_text(encoding="utf-8")
    return re.findall(r"<table.*?</table>", html, flags=re.S)


def test_the_full_mnist_study_draws_the_variants_the_movie_and_fig8(tmp_path):
    result = reproduce(tmp_path, tiny("mnist", 2, quick=False))
    assert result.trained == tuple(f"{group}-seed1" for group in (
        "mnist", "mnist-25-6-6-5", REDUNDANT, "mnist-tanh", "mnist-relu", LONG))
    names = {p.name for p in result.figures}
    assert {"fig2b-mnist-ei.png", "fig4b-mnist-plane.png", "fig4c-mnist-25-6-6-5-plane.png",
            f"fig4d-{REDUNDANT}-plane.png", f"fig4d-long-{LONG}-plane.png",
            f"fig4-{REDUNDANT}-seed1-movie.gif", "fig5b-mnist-phi.png",
            "fig8a-mnist-tanh-ei.png", "fig8b-mnist-relu-ei.png"} <= names
    html = result.index.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert set(embedded(html)) == names
    text = " ".join(" ".join(Page(html).text).split())
    assert "mnist-relu-seed1 2 0" in text and "none (overflow='drop')" in text
    assert "sits on a plateau where it outputs the class prior" in text


def test_the_papers_study_as_data():
    study = paper_study("all")
    labels = [spec.label for spec in study.runs]
    for group in ("iris", "mnist", "mnist-25-6-6-5", REDUNDANT, "mnist-tanh", "mnist-relu"):
        assert [f"{group}-seed{s}" for s in (1, 2, 3)] == [x for x in labels
                                                            if x.rsplit("-seed", 1)[0] == group]
    assert labels[-1] == f"{LONG}-seed1" and study.runs[-1].config().epochs == 20_000
    assert (study.samples, study.sensitivity_samples, study.bins, study.snapshots) == (
        10**7, 5000, 8, None)
    configs = {spec.group: spec.config() for spec in study.runs}
    assert configs["mnist-relu"].activation == "relu" and GROUPS["mnist-relu"].measure == {
        "overflow": "drop"}
    assert configs[REDUNDANT].widths == (25, 6, 6, 6, 6, 6, 5)
    assert configs[REDUNDANT].epochs == 500 and configs[REDUNDANT].init == "paper"

    quick = paper_study("iris", quick=True)
    assert [s.label for s in quick.runs] == ["iris-seed1", "iris-seed2", "iris-seed3"]
    assert quick.runs[0].config().epochs == 1500 and quick.samples == 10**5
    assert LONG not in {s.group for s in paper_study("mnist", quick=True).runs}

    with pytest.raises(ValueError, match="which must be one of 'iris', 'mnist', 'all'; got 'x'"):
        paper_study("x")
    with pytest.raises(ValueError, match="seeds is empty; give at least one seed"):
        paper_study("iris", seeds=())


@pytest.mark.parametrize("target, message", [
    ("a-file", r"'.*a-file' is a file; give a folder for the report, e.g. -o report"),
    ("a-file/sub", r"cannot make the report folder '.*a-file/sub' \(Not a directory\); "
                   r"choose a folder you may write to"),
])
def test_a_bad_report_folder_is_one_line_before_any_work(tmp_path, capsys, target, message):
    (tmp_path / "a-file").write_text("x")
    assert main(["reproduce", "iris", "--quick", "-o", str(tmp_path / target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.fullmatch(f"fastei reproduce: error: {message}\n", err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
