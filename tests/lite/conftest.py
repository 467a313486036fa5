"""The in-browser site's timings, printed at the end of the test run.

``test_lite_site.py`` appends lines to :data:`REPORT` (time to the first 200, cold and
warm, and each tutorial's run); pytest prints them after the summary, so they are in the
output of every run that drove the site, passing or not.
"""

from __future__ import annotations

REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    if REPORT:
        terminalreporter.section("in-browser site (JupyterLite)")
        for line in REPORT:
            terminalreporter.write_line(line)
