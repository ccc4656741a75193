"""The JUnit XML report (`--junit`): one testsuite per step, one testcase per step and host.

failed → `<failure>`, error / unreachable → `<error>`, skipped → `<skipped>`; the message is
the one-line reason and the element text the (masked) command output.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from runbook.engine.results import HostStatus, RunOutcome
from runbook.report.json_report import atomic_write

# XML 1.0 cannot hold most control characters; command output often does (colour codes).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("?", text)


def build_junit(outcome: RunOutcome) -> ET.Element:
    """The `<testsuites>` tree of `outcome`."""
    root = ET.Element("testsuites", name=_clean(outcome.runbook))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for step in outcome.steps:
        counts = {"tests": len(step.results), "failures": 0, "errors": 0, "skipped": 0}
        suite = ET.SubElement(root, "testsuite", name=_clean(f"{step.index + 1:02d} {step.name}"))
        for host_id, result in step.results.items():
            case = ET.SubElement(suite, "testcase", name=_clean(host_id),
                                 classname=_clean(f"{outcome.runbook}.{step.name}"),
                                 time=f"{result.duration:.3f}")
            detail = _clean(result.output)
            message = _clean(result.message or result.status.value)
            if result.status is HostStatus.FAILED and not result.ignored:
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=message, type="failed").text = detail
            elif result.status in (HostStatus.ERROR, HostStatus.UNREACHABLE) and not result.ignored:
                counts["errors"] += 1
                ET.SubElement(case, "error", message=message,
                              type=result.status.value).text = detail
            elif result.status is HostStatus.SKIPPED:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=message)
            elif detail:
                ET.SubElement(case, "system-out").text = detail
        span = (step.ended or 0.0) - (step.started or 0.0)
        suite.attrib.update({k: str(v) for k, v in counts.items()})
        suite.set("time", f"{max(0.0, span):.3f}")
        for key in totals:
            totals[key] += counts[key]
    root.attrib.update({k: str(v) for k, v in totals.items()})
    root.set("time", f"{outcome.duration:.3f}")
    return root


def junit_text(outcome: RunOutcome) -> str:
    """The JUnit XML document of `outcome`, indented, with its XML declaration."""
    tree = build_junit(outcome)
    ET.indent(tree)
    text = ET.tostring(tree, encoding="unicode", xml_declaration=False)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"


def write_junit(outcome: RunOutcome, path: str | Path) -> None:
    """Write the JUnit XML report atomically."""
    atomic_write(Path(path), junit_text(outcome))
