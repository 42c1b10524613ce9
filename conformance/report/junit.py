"""JUnit XML: a <testsuite> per capability, a <testcase> per check. A SHOULD missed is a failure of type
`non-strict`; a failure the baseline expects is a skip of type `expected-failure`."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from ..results import RunResult


def write_junit(result: RunResult, path: str | Path) -> None:
    # Root causes first: the capabilities holding them, and within each its root checks.
    chosen = sorted((c for c in result.capabilities if c.selected), key=lambda c: -max((k.blocks for k in c.checks),
                                                                                         default=0))
    root = ET.Element("testsuites", name="smsgate-conformance", time=f"{result.duration:.3f}")
    run = ET.SubElement(root, "properties")  # read by some tools only; the header is in every testsuite too
    for name, text in (("header", result.header), ("seed", str(result.seed)), ("score", result.score_text)):
        ET.SubElement(run, "property", name=name, value=text)
    roots = ", ".join(f"{c.id} (blocks {c.blocks})" for c in result.root_causes)
    ET.SubElement(run, "property", name="root_causes", value=roots or "none")
    totals = {"tests": 0, "failures": 0, "skipped": 0, "errors": len(result.errors)}
    for capability in chosen:
        failures = sum(1 for c in capability.checks if c.outcome == "failed" and not c.expected)
        skipped = sum(1 for c in capability.checks if c.outcome in ("skipped", "blocked") or c.expected)
        suite = ET.SubElement(root, "testsuite", name=capability.name, tests=str(len(capability.checks)),
                              failures=str(failures), errors="0", skipped=str(skipped),
                              time=f"{sum(c.duration for c in capability.checks):.3f}")
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="header", value=result.header)
        ET.SubElement(properties, "property", name="verdict", value=capability.verdict)
        if capability.reason:
            ET.SubElement(properties, "property", name="reason", value=capability.reason)
        if capability.checked:  # a Missing, Blocked or Not checked capability has no percentage
            ET.SubElement(properties, "property", name="percent", value=f"{capability.percent:.1f}")
        for check in sorted(capability.checks, key=lambda c: -c.blocks):
            case = ET.SubElement(suite, "testcase", classname=f"conformance.{capability.name}",
                                 name=check.id.split("::", 1)[1], time=f"{check.duration:.3f}")
            if check.outcome == "failed" and check.expected:
                ET.SubElement(case, "skipped", type="expected-failure", message=check.message[:500])
            elif check.outcome == "failed":
                kind = "non-strict" if check.strength == "SHOULD" else "failure"
                if check.blocks:
                    kind += "; root cause"
                failure = ET.SubElement(case, "failure", type=kind, message=check.message[:500])
                failure.text = check.report_text()
            elif check.outcome == "blocked":
                ET.SubElement(case, "skipped", type=f"blocked by {check.blocked_by}", message=check.message[:500])
            elif check.outcome == "skipped":
                ET.SubElement(case, "skipped", message=check.message[:500])
        totals["tests"] += len(capability.checks)
        totals["failures"] += failures
        totals["skipped"] += skipped
    for error in result.errors:
        suite = ET.SubElement(root, "testsuite", name="harness", tests="1", failures="0", errors="1", skipped="0")
        ET.SubElement(ET.SubElement(suite, "testcase", classname="conformance.harness", name="run"), "error",
                      message=error[:500]).text = error
    for key, value in totals.items():
        root.set(key, str(value))
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
