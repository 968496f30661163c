"""Merge per-kernel JUnit XML into one file whose test names carry their kernel."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TestResult:
    """One test's outcome on one kernel."""

    test_id: str
    outcome: str  # passed, failed, error, skipped
    message: str = ""


@dataclass
class KernelReport:
    """The tests of one kernel, from its JUnit XML."""

    kernel: str
    tests: list[TestResult] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)  # the suite's, e.g. runtime (harness.plugin)

    def count(self, outcome: str) -> int:
        return sum(1 for t in self.tests if t.outcome == outcome)


def _outcome(case: ET.Element) -> tuple[str, str]:
    for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        child = case.find(tag)
        if child is not None:
            return outcome, (child.get("message") or "").strip()
    return "passed", ""


def parse(kernel: str, xml: bytes) -> tuple[KernelReport, ET.Element]:
    """Read one kernel's JUnit XML; return its report and its testsuite with kernel-qualified names."""
    root = ET.fromstring(xml)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    merged = ET.Element("testsuite", name=f"kernel-{kernel}")
    report = KernelReport(kernel)
    for suite in suites:
        properties = suite.find("properties")
        if properties is not None:
            for prop in properties.iter("property"):
                report.properties[prop.get("name", "")] = prop.get("value", "")
            merged.append(properties)
        for case in suite.iter("testcase"):
            test_id = f"{case.get('classname', '')}::{case.get('name', '')}".lstrip(":")
            outcome, message = _outcome(case)
            report.tests.append(TestResult(test_id, outcome, message))
            case.set("classname", f"kernel-{kernel}.{case.get('classname', '')}")
            merged.append(case)
    _set_counts(merged, report)
    return report, merged


# The statuses of a guest that sent its JUnit XML back; any other (panic, hung, crashed) never reported.
REPORTED = ("passed", "failed", "oops", "no-tests")


def for_outcome(kernel: str, status: str, reason: str, xml: bytes | None,
                console_log: Path) -> tuple[KernelReport, ET.Element]:
    """One kernel's report and testsuite as a run builds them: its guest's own JUnit XML when the guest
    reported, else a synthetic boot failure carrying the status and its reason."""
    if status in REPORTED and xml:
        return parse(kernel, xml)
    return boot_failure(kernel, status, reason, console_log)


def boot_failure(kernel: str, status: str, reason: str, console_log: Path) -> tuple[KernelReport, ET.Element]:
    """A synthetic failed test for a guest that never reported (panic, hang, crash)."""
    suite = ET.Element("testsuite", name=f"kernel-{kernel}")
    case = ET.SubElement(suite, "testcase", classname=f"kernel-{kernel}.harness", name="guest_boot")
    error = ET.SubElement(case, "error", message=f"{status}: {reason}")
    error.text = f"console log: {console_log}"
    report = KernelReport(kernel, [TestResult("harness::guest_boot", "error", f"{status}: {reason}")])
    _set_counts(suite, report)
    return report, suite


def _set_counts(suite: ET.Element, report: KernelReport) -> None:
    suite.set("tests", str(len(report.tests)))
    suite.set("failures", str(report.count("failed")))
    suite.set("errors", str(report.count("error")))
    suite.set("skipped", str(report.count("skipped")))


def write_merged(suites: list[ET.Element], path: Path) -> None:
    root = ET.Element("testsuites")
    root.extend(suites)
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
