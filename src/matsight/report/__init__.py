"""Figures and the self-contained HTML report."""

from matsight.report.html import build_report, build_study_report
from matsight.report.sections import ORDER, Section, read_sections, write_section
from matsight.report.style import DIVERGING_CMAP, OKABE_ITO, SALIENCY_CMAP, SEQUENTIAL_CMAP, save_figure

__all__ = [
    "DIVERGING_CMAP",
    "OKABE_ITO",
    "ORDER",
    "SALIENCY_CMAP",
    "SEQUENTIAL_CMAP",
    "Section",
    "build_report",
    "build_study_report",
    "read_sections",
    "save_figure",
    "write_section",
]
