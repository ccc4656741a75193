"""The JUnit XML report (`--junit`): one testsuite per step, one testcase per step and host.

failed → `<failure>`, error / unreachable → `<error>`, skipped → `<skipped>`; the message is
the one-line reason and the element text the (masked) command output.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from runbook.engine.results import RunOutcome
from runbook.report.json_report import atomic_write
from runbook.results import Status

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
        label = step.path or step.name  # nested steps by their path in the step tree
        suite = ET.SubElement(root, "testsuite", name=_clean(f"{step.index + 1:02d} {label}"))
        for host_id, result in step.results.items():
            case = ET.SubElement(suite, "testcase", name=_clean(host_id),
                                 classname=_clean(f"{outcome.runbook}.{label}"),
                                 time=f"{result.duration:.3f}")
            detail = _clean(result.output)
            message = _clean(result.message or result.word)
            if result.status is Status.Failed and not (result.ignored or result.rescued):
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=message, type="failed").text = detail
            elif result.status is Status.Error and not (result.ignored or result.rescued):
                counts["errors"] += 1
                ET.SubElement(case, "error", message=message,
                              type=result.word).text = detail
            elif result.status is Status.Skipped:
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


def write_junit(outcome: RunOutcome, path: str | Path) -> None:
    """Write the JUnit XML report atomically."""
    tree = build_junit(outcome)
    ET.indent(tree)
    text = ET.tostring(tree, encoding="unicode", xml_declaration=False)
    atomic_write(Path(path), '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n")
