"""Tests of JUnit handling: parse pytest's XML per kernel, synthesise boot failures, write the merged file."""

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.report import junit
from harness.report.junit import boot_failure, parse, write_merged

PYTEST_XML = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="6" time="3.2" hostname="kharness">
<testcase classname="suites.test_ns" name="test_pid_namespace" time="0.1" />
<testcase classname="suites.test_ns" name="test_uts[runc]" time="0.2" />
<testcase classname="suites.test_cgroup" name="test_memory_max" time="0.3">
  <failure message="assert 1 == 2">Traceback...</failure>
</testcase>
<testcase classname="suites.test_cgroup" name="test_kill" time="0.0">
  <skipped type="pytest.skip" message="needs cgroup.kill (first in 5.14)">skip</skipped>
</testcase>
<testcase classname="suites.test_cgroup" name="test_xfail" time="0.0">
  <skipped type="pytest.xfail" message="" />
</testcase>
<testcase classname="suites.test_net" name="test_bridge" time="0.0">
  <error message="failed on setup with &quot;OSError&quot;">...</error>
</testcase>
</testsuite></testsuites>
"""


def test_parse_counts_outcomes():
    """Passed, failed, skipped and error cases are counted from pytest's JUnit XML."""
    report, _ = parse("6.1", PYTEST_XML)
    assert report.kernel == "6.1"
    assert len(report.tests) == 6
    assert (report.count("passed"), report.count("failed"), report.count("skipped"), report.count("error")) == (2, 1, 2, 1)


def test_parse_test_ids_and_messages():
    """Each test is classname::name with the failure/skip message kept."""
    report, _ = parse("6.1", PYTEST_XML)
    by_id = {t.test_id: t for t in report.tests}
    assert by_id["suites.test_ns::test_uts[runc]"] == junit.TestResult("suites.test_ns::test_uts[runc]", "passed", "")
    assert by_id["suites.test_cgroup::test_memory_max"].message == "assert 1 == 2"
    assert by_id["suites.test_cgroup::test_kill"].message == "needs cgroup.kill (first in 5.14)"
    assert by_id["suites.test_net::test_bridge"].outcome == "error"


def test_parse_prefixes_classname_with_kernel():
    """The returned testsuite is named kernel-<name> and each classname starts with kernel-<name>."""
    _, suite = parse("6.12", PYTEST_XML)
    assert suite.tag == "testsuite"
    assert suite.get("name") == "kernel-6.12"
    classnames = [case.get("classname") for case in suite.iter("testcase")]
    assert len(classnames) == 6
    assert all(c.startswith("kernel-6.12.suites.") for c in classnames)
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("6", "1", "1", "2")


def test_parse_bare_testsuite_root():
    """A file whose root is a single <testsuite> (older pytest) is read too."""
    xml = b'<testsuite name="pytest"><testcase classname="a" name="t"/><testcase name="free"/></testsuite>'
    report, suite = parse("5.10", xml)
    assert [t.test_id for t in report.tests] == ["a::t", "free"]
    assert len(list(suite.iter("testcase"))) == 2


def test_boot_failure_is_one_error_case(tmp_path):
    """A guest that never reported becomes one error test harness::guest_boot naming status, reason and log."""
    log = tmp_path / "console.log"
    report, suite = boot_failure("7.2", "panic", "kernel panic: VFS", log)
    assert [(t.test_id, t.outcome) for t in report.tests] == [("harness::guest_boot", "error")]
    assert report.tests[0].message == "panic: kernel panic: VFS"
    (case,) = suite.findall("testcase")
    assert case.get("classname") == "kernel-7.2.harness"
    assert case.get("name") == "guest_boot"
    error = case.find("error")
    assert error.get("message") == "panic: kernel panic: VFS"
    assert str(log) in error.text
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("1", "1", "0")


def test_write_merged_one_suite_per_kernel(tmp_path):
    """The merged file parses back as <testsuites> with one testsuite per kernel and all their cases."""
    _, s61 = parse("6.1", PYTEST_XML)
    _, s612 = parse("6.12", PYTEST_XML)
    _, s72 = boot_failure("7.2", "hung", "no result", Path("/x/console.log"))
    out = tmp_path / "junit.xml"
    write_merged([s61, s612, s72], out)
    assert out.read_bytes().startswith(b"<?xml")
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["kernel-6.1", "kernel-6.12", "kernel-7.2"]
    assert [len(s.findall("testcase")) for s in suites] == [6, 6, 1]
    assert root.find("testsuite[@name='kernel-6.12']/testcase[@name='test_memory_max']/failure") is not None


def test_write_merged_round_trips_through_parse(tmp_path):
    """A merged file's suite parses again with the same outcome counts."""
    _, suite = parse("6.1", PYTEST_XML)
    out = tmp_path / "merged.xml"
    write_merged([suite], out)
    report, _ = parse("again", out.read_bytes())
    assert (report.count("passed"), report.count("failed"), report.count("skipped"), report.count("error")) == (2, 1, 2, 1)


def test_the_suites_properties_are_kept_and_read():
    """The runtime the guest's pytest recorded (record_testsuite_property) reaches the report and the merged file."""
    xml = PYTEST_XML.replace(b'hostname="kharness">', b'hostname="kharness"><properties>'
                             b'<property name="runtime" value="crun" /></properties>')
    report, suite = parse("6.12", xml)
    assert report.properties == {"runtime": "crun"}
    assert suite.find("properties/property").get("value") == "crun"
