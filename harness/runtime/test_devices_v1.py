"""Tests of device rules on the cgroup v1 devices controller: mountinfo and the translation of OCI rules."""

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness.runtime.devicefilter import access_mask, effective_rules, rules_allow
from harness.runtime.devices_v1 import devices_v1_mount, needs_v1_devices, v1_rules
from harness.runtime.default_spec import default_config
from harness.runtime.errors import SpecError
from harness.runtime.spec import load_spec
from harness.runtime.spec_resources import DeviceRule

# /proc/self/mountinfo of a v1/v2 hybrid host (Debian's systemd before cgroup v2 by default), trimmed.
HYBRID_MOUNTINFO = """\
22 27 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 22 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:30 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
38 31 0:35 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,devices
39 31 0:36 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,pids
"""
# A host running cgroup v2 alone: no v1 hierarchy at all.
UNIFIED_MOUNTINFO = """\
22 27 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""
RUNC_DEFAULT = load_spec(default_config()).linux.resources.devices
NUMBERS = (0, 1, 3, 5, 136)
# What the kernel asks the devices controller: open for read, write or both, and mknod (never mknod with r or w).
KERNEL_REQUESTS = ("r", "w", "rw", "m")
SAMPLE_DEVICES = [(kind, major, minor) for kind in "bc" for major in NUMBERS for minor in NUMBERS]
DENY_ALL = DeviceRule(allow=False)
ALLOW_ALL = DeviceRule(allow=True)


def saved(tmp_path, text: str) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(text)
    return str(path)


def v1_decides(writes: list[tuple[str, str]], kind: str, major: int, minor: int, request: str) -> bool:
    """A model of a new v1 devices cgroup (security/device_cgroup.c) after `writes`, written independently of
    v1_rules: it starts as its parent on the host (allow all); "a" to devices.deny or devices.allow sets the default
    and clears the exceptions; a line added to devices.allow merges its access into an existing exception with the
    same type, major and minor (dev_exception_add), and changes nothing under allow-all; with deny-all, a request
    is allowed when one exception matches its type, major and minor and holds every requested access
    (match_exception)."""
    allow_all, exceptions = True, {}
    for file, line in writes:
        if line == "a":
            allow_all, exceptions = file == "devices.allow", {}
            continue
        assert file == "devices.allow", (file, line)  # v1_rules never writes a deny exception
        line_type, numbers, access = line.split(" ")
        assert line_type in ("b", "c"), line  # "a" with numbers would mean "all" to the kernel
        if allow_all:
            continue  # with allow-all, an allow line only removes deny exceptions, and there are none
        key = (line_type, *numbers.split(":"))
        exceptions[key] = exceptions.get(key, set()) | set(access)
    if allow_all:
        return True
    return any(line_type == kind and line_major in ("*", str(major)) and line_minor in ("*", str(minor))
               and set(request) <= access for (line_type, line_major, line_minor), access in exceptions.items())


# -- mountinfo ---------------------------------------------------------------------------------------------------

def test_devices_mount_is_found_on_a_hybrid_host(tmp_path):
    """The cgroup (v1) mount whose super options list "devices" is the one; cpu,cpuacct and name=systemd are not."""
    assert devices_v1_mount(saved(tmp_path, HYBRID_MOUNTINFO)) == "/sys/fs/cgroup/devices"


def test_no_devices_mount_on_a_unified_host_or_without_mountinfo(tmp_path):
    """A host with cgroup v2 alone has no devices mount; an unreadable mountinfo knows none either."""
    assert devices_v1_mount(saved(tmp_path, UNIFIED_MOUNTINFO)) is None
    assert devices_v1_mount(str(tmp_path / "missing")) is None


def test_devices_mount_parsing_reads_super_options_and_unescapes(tmp_path):
    """Comounted controllers count ("rw,devices,freezer"), a name= option spelling "devices" does not, optional
    fields before "-" are skipped and an octal-escaped space in the mount point is decoded."""
    text = ("50 31 0:40 / /sys/fs/cgroup/named rw,relatime shared:1 master:2 - cgroup x rw,name=devices\n"
            "51 31 0:41 / /mnt/my\\040cgroups rw,relatime shared:3 - cgroup cgroup rw,devices,freezer\n")
    assert devices_v1_mount(saved(tmp_path, text)) == "/mnt/my cgroups"
    assert devices_v1_mount(saved(tmp_path, text.splitlines()[0] + "\n")) is None


def test_v1_is_needed_for_device_rules_without_cgroup_v2_alone(tmp_path):
    """Rules on a hybrid host need the v1 controller; none without rules, none where cgroup v2 runs alone."""
    resources = load_spec(default_config()).linux.resources
    assert needs_v1_devices(resources, saved(tmp_path, HYBRID_MOUNTINFO))
    assert not needs_v1_devices(resources, saved(tmp_path, UNIFIED_MOUNTINFO))
    config = default_config()
    del config["linux"]["resources"]
    assert not needs_v1_devices(load_spec(config).linux.resources, saved(tmp_path, HYBRID_MOUNTINFO))
    assert not needs_v1_devices(None, saved(tmp_path, HYBRID_MOUNTINFO))


# -- the translation ------------------------------------------------------------------------------------------------

def test_runc_default_rules_become_deny_all_then_the_default_devices():
    """runc's deny-all plus the default devices: "a" to devices.deny, then one devices.allow line per default in
    order ("*" for a missing major or minor)."""
    assert v1_rules(effective_rules(RUNC_DEFAULT)) == [
        ("devices.deny", "a"), ("devices.allow", "c *:* m"), ("devices.allow", "b *:* m"),
        ("devices.allow", "c 1:3 rwm"), ("devices.allow", "c 1:8 rwm"), ("devices.allow", "c 1:7 rwm"),
        ("devices.allow", "c 5:0 rwm"), ("devices.allow", "c 1:5 rwm"), ("devices.allow", "c 1:9 rwm"),
        ("devices.allow", "c 5:1 rwm"), ("devices.allow", "c 136:* rwm"),
        ("devices.allow", "c 5:2 rwm")]


def test_an_allow_all_as_last_decision_is_the_single_line_a():
    """An allow-all rule after everything else that decides (the defaults only allow more) is "a" to devices.allow,
    whatever came before it."""
    rules = (DENY_ALL, DeviceRule(allow=True, type="c", major=1, minor=3, access="r"), ALLOW_ALL)
    assert v1_rules(effective_rules(rules)) == [("devices.allow", "a")]


def test_rules_before_the_last_deny_all_are_dropped():
    """A deny-all rule overrides every rule before it: only the allows after it are written."""
    rules = (DeviceRule(allow=True, type="b", major=8, access="rw"), DENY_ALL,
             DeviceRule(allow=True, type="c", major=10, minor=200, access="rw"))
    assert v1_rules(rules) == [("devices.deny", "a"), ("devices.allow", "c 10:200 rw")]
    assert v1_rules(()) == [("devices.deny", "a")]  # nothing matches: everything is denied


def test_an_allow_all_followed_by_a_deny_is_refused():
    """"Allow all but /dev/mem" needs an allow-all default with exceptions, which this translation does not
    write: the deny is refused, naming it and the allow-all rule."""
    rules = (ALLOW_ALL, DeviceRule(allow=False, type="c", major=1, minor=1))
    with pytest.raises(SpecError) as caught:
        v1_rules(effective_rules(rules))
    assert caught.value.path == "linux.resources.devices[1]"
    assert "takes back access that linux.resources.devices[0] (the allow-all rule) grants" in caught.value.message
    assert "cgroup v1" in caught.value.message and "put the deny rules first" in caught.value.message


def test_a_deny_after_an_allow_it_overlaps_is_refused():
    """Allowing all char devices, then denying c 1:1 for reading: v1 cannot deny after allowing, so the list is
    refused naming the deny; with the deny first, the same rules are accepted (the deny is then a no-op)."""
    allow_char = DeviceRule(allow=True, type="c", access="rw")
    deny_mem = DeviceRule(allow=False, type="c", major=1, minor=1, access="r")
    with pytest.raises(SpecError, match=r"this deny rule \(c 1:1 r\) takes back access that "
                                        r"linux\.resources\.devices\[1\] \(c \*:\* rw\) grants"):
        v1_rules((DENY_ALL, allow_char, deny_mem))
    assert v1_rules((DENY_ALL, deny_mem, allow_char)) == [("devices.deny", "a"), ("devices.allow", "c *:* rw")]


@pytest.mark.parametrize("deny", [
    DeviceRule(allow=False, type="b", major=1, minor=3),  # another type
    DeviceRule(allow=False, type="c", major=1, minor=4),  # another minor
    DeviceRule(allow=False, type="c", major=1, minor=3, access="m"),  # an access the allow does not grant
])
def test_a_deny_that_overlaps_no_earlier_allow_is_dropped(deny):
    """A deny rule that no earlier allow overlaps changes no decision, so nothing is written for it."""
    allow_null = DeviceRule(allow=True, type="c", major=1, minor=3, access="rw")
    assert v1_rules((DENY_ALL, allow_null, deny)) == [("devices.deny", "a"), ("devices.allow", "c 1:3 rw")]


def test_a_type_a_rule_becomes_a_block_and_a_char_line():
    """"a" written to a devices file means all devices, so a type-a rule with numbers or fewer accesses is written
    as the same rule for b and for c."""
    assert v1_rules((DeviceRule(allow=True, type="a", major=7, access="mr"),)) == [
        ("devices.deny", "a"), ("devices.allow", "b 7:* rm"), ("devices.allow", "c 7:* rm")]


def test_read_and_write_granted_by_separate_rules_are_refused():
    """The kernel merges "c 1:3 r" and "c 1:3 w" into "c 1:3 rw", which would allow a read-write open neither rule
    allows: refused naming both; a later rule granting rw on the same device makes the merge harmless."""
    read, write = (DeviceRule(allow=True, type="c", major=4, minor=3, access=access) for access in ("r", "wm"))
    with pytest.raises(SpecError) as caught:
        v1_rules((DENY_ALL, read, write))
    assert caught.value.path == "linux.resources.devices[2]"
    assert caught.value.message.startswith("allows c 4:3 wm while linux.resources.devices[1] allows c 4:3 r: "
                                           "cgroup v1")
    both = DeviceRule(allow=True, type="c", major=4, minor=3, access="rw")
    assert v1_rules((DENY_ALL, read, write, both))[1:] == [("devices.allow", "c 4:3 r"), ("devices.allow",
                                                            "c 4:3 wm"), ("devices.allow", "c 4:3 rw")]


def test_numbers_above_int32_are_refused_as_the_ebpf_backend_does():
    """A major above 2^31-1 is a SpecError naming the field, as compile_rules refuses it on cgroup v2."""
    with pytest.raises(SpecError, match=r"^linux\.resources\.devices\[1\]\.major: 2147483648 is above 2147483647"):
        v1_rules((DENY_ALL, DeviceRule(allow=True, type="c", major=2**31, minor=0)))


def rules_deciding(allow: st.SearchStrategy[bool]) -> st.SearchStrategy[DeviceRule]:
    """Device rules with `allow` drawn from the given strategy, over a few numbers so that rules overlap."""
    return st.builds(DeviceRule, allow=allow, type=st.sampled_from("abc"),
                     major=st.one_of(st.none(), st.sampled_from(NUMBERS)),
                     minor=st.one_of(st.none(), st.sampled_from(NUMBERS)),
                     access=st.sampled_from(["r", "w", "m", "rw", "rm", "wm", "rwm"]))


rule_strategy = rules_deciding(st.booleans())
# Lists as they are written in practice (denies, then allows) are accepted more often than random ones.
ordered_strategy = st.tuples(st.lists(rules_deciding(st.just(False)), max_size=3),
                             st.lists(rules_deciding(st.just(True)), max_size=4)).map(lambda parts: parts[0] + parts[1])
spec_rules_strategy = st.tuples(st.sampled_from([(), (DENY_ALL,), (ALLOW_ALL,)]),
                                st.one_of(st.lists(rule_strategy, max_size=6), ordered_strategy)) \
    .map(lambda parts: (*parts[0], *parts[1]))


@settings(derandomize=True, max_examples=400, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(spec_rules=spec_rules_strategy)
def test_accepted_lists_decide_in_v1_as_the_oci_semantics_say(spec_rules):
    """For any rule list (the spec's, then runc's defaults) that v1_rules accepts, a v1 devices cgroup given its
    writes decides every request the kernel makes (r, w, rw, m) on sample devices as rules_allow does; a refused
    list is a SpecError naming one of the spec's own rules."""
    rules = effective_rules(tuple(spec_rules))
    try:
        writes = v1_rules(rules)
    except SpecError as error:
        event("refused")
        index = int(error.path.removeprefix("linux.resources.devices[").split("]")[0])
        assert index < len(spec_rules), (spec_rules, error)
        return
    event("accepted")
    for kind, major, minor in SAMPLE_DEVICES:
        for request in KERNEL_REQUESTS:
            expected = rules_allow(rules, kind, major, minor, access_mask(request))
            assert v1_decides(writes, kind, major, minor, request) == expected, \
                (spec_rules, writes, kind, major, minor, request)


def test_the_model_sees_what_a_wrong_translation_would_do():
    """The kernel model used by the property test notices a missing deny-all and a merged r/w grant."""
    assert v1_decides([("devices.allow", "c 1:3 rwm")], "c", 1, 1, "r")  # no "a" denied: the parent allows all
    merged = [("devices.deny", "a"), ("devices.allow", "c 1:3 r"), ("devices.allow", "c 1:3 w")]
    assert v1_decides(merged, "c", 1, 3, "rw")
    assert not rules_allow((DeviceRule(allow=True, type="c", major=1, minor=3, access="r"),
                            DeviceRule(allow=True, type="c", major=1, minor=3, access="w")), "c", 1, 3,
                           access_mask("rw"))
