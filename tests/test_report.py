"""The HTML report: one self-contained, escaped page from real figure files."""

import base64
import os
import stat
from html.parser import HTMLParser
from importlib import resources

import numpy as np
import pytest
from matplotlib.figure import Figure as MplFigure
from PIL import Image

from fastei.report import Figure, Section, Table, format_cell, write_report


class Page(HTMLParser):
    """Every tag with its attributes and the text outside tags."""

    def __init__(self, html):
        super().__init__()
        self.tags, self.text = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def attributes(self, name):
        return [attrs[name] for _, attrs in self.tags if name in attrs]

    def images(self):
        """``{alt: bytes}`` of every ``<img>``, decoded from its data URI."""
        found = {}
        for tag, attrs in self.tags:
            if tag == "img":
                head, _, payload = attrs["src"].partition(",")
                assert head in ("data:image/png;base64", "data:image/gif;base64")
                found[attrs["alt"]] = base64.b64decode(payload, validate=True)
        return found


def assert_self_contained(html):
    """No script, stylesheet link or frame; links only inside the page; no URL anywhere
    outside the embedded images."""
    page = Page(html)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed", "base"}
    assert all(href.startswith("#") for href in page.attributes("href"))
    assert all(src.startswith("data:image/") for src in page.attributes("src"))
    without_images = html
    for src in page.attributes("src"):
        without_images = without_images.replace(src, "")
    assert "http" not in without_images and "//" not in without_images
    assert "<script" not in html.lower() and "url(" not in html.lower()
    return page


@pytest.fixture
def pictures(tmp_path):
    """A real PNG drawn by matplotlib and a real two-frame GIF."""
    fig = MplFigure(figsize=(3, 2))
    fig.add_subplot().plot(np.arange(5) ** 2)
    png = tmp_path / "curve.png"
    fig.savefig(png)
    gif = tmp_path / "movie.gif"
    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "blue")]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=200)
    return png, gif


def test_the_page_embeds_every_figure_and_needs_nothing_else(tmp_path, pictures):
    png, gif = pictures
    table = Table("Final EI", ["layer", "EI (bits)", "note"],
                  [[0, 2.3456, None], [1, 1e-5, "ok"]], "Means over three seeds.")
    sections = [Section("Training", "First paragraph.\n\nSecond\nparagraph.",
                        [Figure(png, "A curve.", "Fig. A"), Figure(gif, "A movie.", "Fig. B")],
                        [table]),
                Section("Empty")]
    index = write_report(tmp_path / "report", sections, title="Test report",
                         summary="What this is.", settings={"samples": 10**7, "bins": 8})
    assert index == tmp_path / "report" / "index.html"
    html = index.read_text(encoding="utf-8")
    page = assert_self_contained(html)

    assert page.images() == {"Fig. A": png.read_bytes(), "Fig. B": gif.read_bytes()}
    text = " ".join(" ".join(page.text).split())
    for expected in ("Test report", "What this is.", "First paragraph.", "Second paragraph.",
                     "A curve.", "curve.png", "A movie.", "Final EI", "2.346", "1e-05", "–",
                     "Means over three seeds.", "samples", "10000000"):
        assert expected in text
    sections_ids = [attrs["id"] for tag, attrs in page.tags if tag == "section"]
    assert page.attributes("href") == [f"#{i}" for i in sections_ids]
    assert not list(index.parent.glob(".*tmp*"))  # written atomically, nothing left over


def test_the_page_has_the_permissions_of_any_new_file(tmp_path):
    umask = os.umask(0o022)  # a common umask, then the caller's back
    try:
        index = write_report(tmp_path, [Section("A")])
    finally:
        os.umask(umask)
    assert stat.S_IMODE(index.stat().st_mode) == 0o644  # readable by a web server, say


def test_text_is_escaped(tmp_path, pictures):
    hostile = '<script>alert("x")</script> & <a href="http://example.com">x</a>'
    index = write_report(tmp_path, [Section(hostile, hostile, [Figure(pictures[0], hostile,
                                                                      hostile)],
                                            [Table(hostile, [hostile], [[hostile]], hostile)])],
                         title=hostile, summary=hostile, settings={hostile: hostile})
    html = index.read_text(encoding="utf-8")
    page = Page(html)
    assert "script" not in {tag for tag, _ in page.tags}
    assert all(href.startswith("#") for href in page.attributes("href"))
    assert "&lt;script&gt;" in html and "&amp;" in html
    assert hostile in "".join(page.text)


def test_format_cell():
    assert [format_cell(v) for v in (2.0, -0.5, 0.0, 0.00012, 12345678.0, 7, np.int64(3),
                                     np.float32(0.25), None, float("nan"), True, "n/a")] == [
        "2.000", "-0.500", "0.000", "0.00012", "1.23e+07", "7", "3", "0.250", "–", "–",
        "True", "n/a"]


def test_bad_inputs_give_one_line_errors_and_keep_the_old_page(tmp_path, pictures):
    index = write_report(tmp_path, [Section("Old")])
    old = index.read_bytes()
    svg = tmp_path / "figure.svg"
    svg.write_text("<svg/>")
    cases = [
        ([Section("A", figures=[Figure(tmp_path / "missing.png", "c")])], {},
         FileNotFoundError, r"figure '.*missing.png' does not exist; draw it before"),
        ([Section("A", figures=[Figure(svg, "c")])], {},
         ValueError, r"cannot embed '.*figure.svg' in the report: give a .png, .gif"),
        ([Section("A", tables=[Table("T", ["a", "b"], [[1, 2], [3]])])], {},
         ValueError, r"section 'A', table 'T': row 1 has 1 entries for 2 columns"),
        (["not a section"], {}, TypeError, r"sections must hold fastei.report.Section objects, "
                                           r"got str at position 0"),
        ([], {"settings": [("a", 1)]}, TypeError, r"settings must be a mapping from name to "
                                                  r"value, got list"),
    ]
    for sections, options, error, message in cases:
        with pytest.raises(error, match=message):
            write_report(tmp_path, sections, **options)
        assert index.read_bytes() == old
    with pytest.raises(OSError):
        write_report(pictures[0] / "sub", [])  # a folder inside a file


def test_the_template_ships_with_the_package():
    template = resources.files("fastei.report").joinpath("templates/index.html.j2")
    assert template.is_file() and "{{ title }}" in template.read_text()
