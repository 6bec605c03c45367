import base64

import numpy as np

from essl.reports.compare import pareto_front
from essl.reports.html import Figure, Section, Table, fmt, render, write_report
from essl.reports.plots import line_plot


def test_text_is_escaped_and_numbers_are_readable():
    page = render(
        "<b>t</b>",
        "lead & more",
        [Section("S", paragraphs=["<script>x</script>"], tables=[Table(["a"], [[1234567]])])],
    )
    assert "<script>x" not in page and "&lt;script&gt;" in page and "&lt;b&gt;t" in page
    assert "1,234,567" in page
    assert fmt(None) == "–" and fmt(float("nan")) == "–" and fmt(0.123456) == "0.1235"
    assert fmt([0.0123456, None]) == "[0.01235, –]"


def test_figures_are_embedded_so_the_page_is_self_contained(tmp_path):
    png = line_plot([("a", np.arange(3), np.arange(3.0))], tmp_path / "p", xlabel="x", ylabel="y")[
        0
    ]
    out = write_report(tmp_path / "r.html", "T", "L", [Section("S", figures=[Figure(png, "c")])])
    page = out.read_text()
    assert base64.b64encode(png.read_bytes()).decode()[:200] in page
    assert "src='p.png'" not in page and "http" not in page.replace("http-equiv", "")


def test_pareto_front_keeps_only_non_dominated_points():
    pts = [(0.9, 0.10), (0.8, 0.05), (0.7, 0.20), (0.9, 0.05), (0.5, 0.01)]
    assert sorted(pareto_front(pts)) == [3, 4]
