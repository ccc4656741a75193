"""The JUnit XML report (`--junit`): one testsuite per step, one testcase per step and host.

failed → `<failure>`, error / unreachable → `<error>`, skipped → `<skipped>`; the message is
the one-line reason and the element text the command output. Every attribute and text of the
finished tree is masked and cleaned in one pass (`_mask_and_clean`).
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import IO

from runbook.engine.results import RunOutcome
from runbook.report.json_report import atomic_file
from runbook.results import Status

# XML 1.0 cannot hold most control characters; command output often does (colour codes).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _mask_and_clean(root: ET.Element, mask: Callable[[str], str]) -> None:
    """Mask every attribute and text of the tree, then replace what XML cannot hold.

    The report's one masking point: a secret in a step name (testsuite name, classname), a
    message or an output cannot reach the file, whichever element carries it."""
    for element in root.iter():
        if element.text:
            element.text = _INVALID_XML.sub("?", mask(element.text))
        for key, value in element.attrib.items():
            element.set(key, _INVALID_XML.sub("?", mask(value)))


def build_junit(outcome: RunOutcome, mask: Callable[[str], str] | None = None) -> ET.Element:
    """The `<testsuites>` tree of `outcome`, masked with `mask`."""
    root = ET.Element("testsuites", name=outcome.runbook)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for step in outcome.steps:
        counts = {"tests": len(step.results), "failures": 0, "errors": 0, "skipped": 0}
        label = step.path or step.name  # nested steps by their path in the step tree
        suite = ET.SubElement(root, "testsuite", name=f"{step.index + 1:02d} {label}")
        for host_id, result in step.results.items():
            case = ET.SubElement(suite, "testcase", name=host_id,
                                 classname=f"{outcome.runbook}.{label}",
                                 time=f"{result.duration:.3f}")
            if host_id in outcome.sites:  # multi-site runs: which site's worker drove it
                props = ET.SubElement(case, "properties")
                ET.SubElement(props, "property", name="site", value=outcome.sites[host_id])
            detail = result.output
            message = result.message or result.word
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
    _mask_and_clean(root, mask or str)
    return root


def junit_text(outcome: RunOutcome, mask: Callable[[str], str] | None = None) -> str:
    """The JUnit XML document of `outcome`, masked, indented, with its XML declaration."""
    text = io.StringIO()
    _write_document(outcome, mask, text)
    return text.getvalue()


def write_junit(outcome: RunOutcome, path: str | Path,
                mask: Callable[[str], str] | None = None) -> None:
    """Write the JUnit XML report atomically, element by element into the file (the
    document of 500 hosts' outputs is never held whole as one string)."""
    with atomic_file(Path(path)) as handle:
        _write_document(outcome, mask, handle)


def _write_document(outcome: RunOutcome, mask: Callable[[str], str] | None,
                    handle: IO[str]) -> None:
    """`junit_text`'s document, written into `handle` as ElementTree serializes it."""
    tree = build_junit(outcome, mask)
    ET.indent(tree)
    handle.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    ET.ElementTree(tree).write(handle, encoding="unicode", xml_declaration=False)
    handle.write("\n")
