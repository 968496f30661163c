"""Tests of the kconfig check: .config parsing, the fragment vm-images/kharness.config, verdicts, the CLI."""

import glob
from pathlib import Path

import pytest

from harness.image import build
from harness.kernels import kconfig, kconfig_cli
from harness.kernels.cache import cache_root
from harness.kernels.kconfig import AnyModule, KconfigError, Requirement

SAMPLE = """\
#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_CC_VERSION_TEXT="gcc (Debian 12.2.0-14) 12.2.0"
CONFIG_64BIT=y
CONFIG_VETH=m
# CONFIG_USER_NS is not set
CONFIG_SERIAL_8250_RUNTIME_UARTS=4
CONFIG_PHYSICAL_START=0x1000000
CONFIG_LOCALVERSION=""
CONFIG_CMDLINE="console=ttyS0 \\"quoted\\""
"""


def full_config(overrides: dict[str, str] | None = None) -> str:
    """A .config that sets every option of the shipped fragment as asked, then the overrides (None: drop it)."""
    values = {req.name: req.value for req in kconfig.load_fragment()}
    for name, value in (overrides or {}).items():
        if value is None:
            values.pop(name)
        else:
            values[name] = value
    lines = [f"# {name} is not set" if value == "n" else f"{name}={value}" for name, value in values.items()]
    return "\n".join(["# generated for a test", *lines]) + "\n"


def test_parse_config_reads_every_kind_of_value():
    """y, m, numbers, hex numbers and quoted strings are kept; `# CONFIG_X is not set` reads as n."""
    values = kconfig.parse_config_text(SAMPLE)
    assert values["CONFIG_64BIT"] == "y"
    assert values["CONFIG_VETH"] == "m"
    assert values["CONFIG_USER_NS"] == "n"
    assert values["CONFIG_SERIAL_8250_RUNTIME_UARTS"] == "4"
    assert values["CONFIG_PHYSICAL_START"] == "0x1000000"
    assert values["CONFIG_LOCALVERSION"] == '""'
    assert values["CONFIG_CMDLINE"] == '"console=ttyS0 \\"quoted\\""'


def test_parse_config_names_file_and_line_of_a_malformed_line():
    """A line that is neither an option nor a comment is an error naming the file and its line number."""
    with pytest.raises(KconfigError, match=r"^my\.config:3: .*not a kernel \.config"):
        kconfig.parse_config_text("CONFIG_A=y\n\nthis is prose\n", "my.config")


def test_parse_config_refuses_unquoted_text():
    """An unquoted value with spaces is malformed (Kconfig quotes every string)."""
    with pytest.raises(KconfigError, match=r"^c:1: CONFIG_A=two words"):
        kconfig.parse_config_text("CONFIG_A=two words\n", "c")


def test_parse_config_refuses_a_file_without_options():
    """A file of comments only (or empty) is not a .config."""
    with pytest.raises(KconfigError, match="no CONFIG_ line"):
        kconfig.parse_config_text("# nothing here\n", "empty")


def test_read_config_names_the_line_of_binary_content(tmp_path):
    """A file that is not UTF-8 (a bzImage given by mistake, say) is an error naming the line."""
    path = tmp_path / "bzImage"
    path.write_bytes(b"CONFIG_A=y\nCONFIG_B=y\n\xff\xfe\x00binary")
    with pytest.raises(KconfigError, match=rf"^{path}:3: not UTF-8"):
        kconfig.read_config(path)


def test_read_config_of_a_missing_file(tmp_path):
    """An unreadable path is an error naming it and the reason."""
    with pytest.raises(KconfigError, match=r"absent\.config: cannot read: No such file"):
        kconfig.read_config(tmp_path / "absent.config")


def test_read_config_of_a_build_tree_reads_its_dot_config(tmp_path):
    """A directory stands for a kernel build tree: its .config is read."""
    (tmp_path / ".config").write_text("CONFIG_A=y\n")
    assert kconfig.read_config(tmp_path) == {"CONFIG_A": "y"}


def test_read_config_of_a_directory_without_dot_config(tmp_path):
    """A directory without .config is refused, saying how to make one."""
    with pytest.raises(KconfigError, match="without .config.*make x86_64_defconfig"):
        kconfig.read_config(tmp_path)


def test_fragment_groups_give_class_and_purpose():
    """Each option takes the class and purpose of the `# [CLASS] purpose` line opening its group."""
    text = "# header\n#\n# [boot] the console\nCONFIG_TTY=y\n# a note\nCONFIG_SERIAL_8250=y\n" \
           "# [suites] namespaces\nCONFIG_USER_NS=y\n"
    reqs = kconfig.parse_fragment_text(text, "frag")
    assert reqs == [Requirement("CONFIG_TTY", "y", "boot", "the console", 4),
                    Requirement("CONFIG_SERIAL_8250", "y", "boot", "the console", 6),
                    Requirement("CONFIG_USER_NS", "y", "suites", "namespaces", 8)]


def test_fragment_option_before_any_group_is_an_error():
    """An option without a group line above it has no class: an error naming the line."""
    with pytest.raises(KconfigError, match=r"^frag:2: CONFIG_TTY comes before"):
        kconfig.parse_fragment_text("# header\nCONFIG_TTY=y\n", "frag")


def test_fragment_unknown_class_is_an_error():
    """A group class other than boot, modules and suites is an error listing those."""
    with pytest.raises(KconfigError, match=r"^frag:1: unknown class \[maybe\].*\[boot\], \[modules\], \[suites\]"):
        kconfig.parse_fragment_text("# [maybe] things\nCONFIG_TTY=y\n", "frag")


def test_shipped_fragment_parses_without_duplicates():
    """vm-images/kharness.config parses; every option appears once, as =y, a number, or off (not set)."""
    reqs = kconfig.load_fragment()
    names = [req.name for req in reqs]
    assert len(names) == len(set(names))
    assert all(req.value in ("y", "n") or req.value.isdigit() for req in reqs)
    assert {"CONFIG_BLK_DEV_INITRD", "CONFIG_DEVTMPFS", "CONFIG_SERIAL_8250_CONSOLE", "CONFIG_TIME_NS",
            "CONFIG_USER_NS", "CONFIG_CGROUP_BPF", "CONFIG_BLK_DEV_THROTTLING", "CONFIG_SECCOMP_FILTER",
            "CONFIG_IPV6_MULTIPLE_TABLES"} <= set(names)


def test_fragment_modules_are_the_ones_the_image_packs():
    """The [modules] options build exactly the modules harness/image/build.py packs, and the optional ones agree."""
    modular = {req.module for req in kconfig.load_fragment() if req.module}
    assert modular == set(build.GUEST_MODULES) | set(build.OPTIONAL_GUEST_MODULES)
    assert kconfig.OPTIONAL_MODULES == set(build.OPTIONAL_GUEST_MODULES)
    assert all(req.kind == "modules" for req in kconfig.load_fragment() if req.module)


@pytest.mark.parametrize("config", sorted(glob.glob(str(cache_root() / "kernels" / "*" / "boot" / "config-*"))))
def test_every_fragment_option_exists_in_debian_configs(config):
    """Each option of the fragment is named in Debian's cloud configs (set or not set), so it exists in those
    kernels and merge_config.sh will not warn about it. Runs on the configs the kernel cache holds."""
    values = kconfig.read_config(Path(config))
    absent = [req.name for req in kconfig.load_fragment() if req.name not in values]
    assert absent == []


def requirement(name="CONFIG_X", value="y", kind="suites"):
    return Requirement(name, value, kind, "a purpose", 1)


def test_judge_met_and_missing():
    """=y meets =y; not set or absent is missing, and the line says which."""
    assert kconfig.judge(requirement(), "y", None).verdict == "ok"
    unset = kconfig.judge(requirement(), "n", None)
    assert unset.verdict == "missing"
    assert unset.line() == "CONFIG_X is not set: needs =y [suites: a purpose]"
    absent = kconfig.judge(requirement(), None, None)
    assert absent.line().startswith("CONFIG_X is absent: needs =y")


def test_judge_numbers_are_minimums():
    """A number asked for is a minimum: more is fine, less or absent is missing."""
    req = requirement("CONFIG_SERIAL_8250_RUNTIME_UARTS", "2", "boot")
    assert kconfig.judge(req, "4", None).verdict == "ok"
    assert kconfig.judge(req, "2", None).verdict == "ok"
    assert kconfig.judge(req, "1", None).detail == "needs at least 2"
    assert kconfig.judge(req, None, None).verdict == "missing"


def test_judge_module_of_the_guest_depends_on_the_modules_given():
    """=m for a module the guest loads: "module" when modules are not given, ok when its module is among them
    (or will be given), missing when the given ones lack it."""
    req = requirement("CONFIG_VETH", "y", "modules")
    assert kconfig.judge(req, "m", None).verdict == "module"
    assert kconfig.judge(req, "m", {"veth", "bridge"}).verdict == "ok"
    assert kconfig.judge(req, "m", AnyModule()).verdict == "ok"
    lacking = kconfig.judge(req, "m", {"bridge"})
    assert lacking.verdict == "missing"
    assert "module veth is not among the modules given" in lacking.detail


def test_judge_module_for_boot_or_suites_must_be_built_in():
    """=m of an option the guest needs before loading modules, or that nothing loads, is missing, saying why."""
    boot = kconfig.judge(requirement("CONFIG_SERIAL_8250", "y", "boot"), "m", AnyModule())
    assert boot.verdict == "missing" and "before it loads any module" in boot.detail
    suites = kconfig.judge(requirement("CONFIG_IPV6", "y", "suites"), "m", AnyModule())
    assert suites.verdict == "missing" and "loads no module but veth" in suites.detail


def test_an_option_that_must_be_off_is_read_and_judged():
    """`# CONFIG_X is not set` in a fragment asks for X off: not set, absent or a module (never loaded by the
    guest) meet it; =y is missing, saying so. The shipped fragment asks this of IPV6_SIT."""
    [off] = kconfig.parse_fragment_text("# [suites] no fallback tunnel\n# CONFIG_IPV6_SIT is not set\n")
    assert (off.name, off.value, off.kind) == ("CONFIG_IPV6_SIT", "n", "suites")
    assert [kconfig.judge(off, actual, None).verdict for actual in ("n", None, "m", "y")] == \
        ["ok", "ok", "ok", "missing"]
    assert "must be off" in kconfig.judge(off, "y", None).detail
    assert "CONFIG_IPV6_SIT" in {req.name for req in kconfig.load_fragment() if req.value == "n"}


def test_check_of_a_config_made_from_the_fragment_is_clean():
    """A config with every option of the fragment as asked meets all of them."""
    config = kconfig.parse_config_text(full_config())
    assert all(f.verdict == "ok" for f in kconfig.check(config, kconfig.load_fragment()))


def test_summary_counts_verdicts():
    """The final line counts checked, met, left to modules and missing options, and the boot ones among them."""
    findings = [kconfig.judge(requirement("CONFIG_A", kind="boot"), None, None),
                kconfig.judge(requirement("CONFIG_VETH", kind="modules"), "m", None),
                kconfig.judge(requirement("CONFIG_B"), "y", None)]
    assert kconfig.summary(findings, ".config") == (
        ".config: 3 options of vm-images/kharness.config checked: 1 met, 1 built as modules (give them with "
        "--modules), 1 missing (1 of them needed to boot)")


def test_cli_exit_0_when_nothing_is_missing(tmp_path, capsys):
    """A config meeting the whole fragment exits 0 and prints only the summary."""
    (tmp_path / "good.config").write_text(full_config())
    assert kconfig_cli.main(["--check", str(tmp_path / "good.config")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "0 missing" in out[0]


def test_cli_exit_1_lists_what_is_missing(tmp_path, capsys):
    """Each missing option is one line with its purpose; modular guest modules need --modules; exit 1."""
    (tmp_path / "c").write_text(full_config({"CONFIG_USER_NS": "n", "CONFIG_DEVTMPFS": None, "CONFIG_VETH": "m"}))
    assert kconfig_cli.main(["--check", str(tmp_path / "c")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("CONFIG_USER_NS is not set: needs =y [suites: namespaces") for line in out)
    assert any(line.startswith("CONFIG_DEVTMPFS is absent: needs =y [boot: what the guest init mounts") for line in out)
    assert any(line.startswith("CONFIG_VETH=m: give the module") for line in out)
    assert out[-1].endswith("1 built as modules (give them with --modules), 2 missing (1 of them needed to boot)")


def test_cli_bare_modules_flag_accepts_modular_guest_modules(tmp_path, capsys):
    """--modules without a directory: the modules will be given, so =m of veth is met."""
    (tmp_path / "c").write_text(full_config({"CONFIG_VETH": "m", "CONFIG_BRIDGE": "m"}))
    assert kconfig_cli.main(["--check", str(tmp_path / "c"), "--modules"]) == 0


def test_cli_modules_directory_is_searched(tmp_path, capsys):
    """--modules DIR (a lib/modules/<release>) meets =m options whose module files are there, and only those."""
    (tmp_path / "c").write_text(full_config({"CONFIG_VETH": "m", "CONFIG_BRIDGE": "m"}))
    modules = tmp_path / "lib" / "modules" / "6.13.0"
    (modules / "kernel" / "drivers" / "net").mkdir(parents=True)
    (modules / "kernel" / "drivers" / "net" / "veth.ko.xz").write_bytes(b"")
    assert kconfig_cli.main(["--check", str(tmp_path / "c"), "--modules", str(modules)]) == 1
    out = capsys.readouterr().out
    assert "CONFIG_BRIDGE=m: module bridge is not among the modules given" in out
    assert "CONFIG_VETH" not in out


def test_cli_build_tree_uses_its_built_modules(tmp_path, capsys):
    """A build tree is checked with its own modules (modules.order): built ones are met, unbuilt ones missing."""
    (tmp_path / ".config").write_text(full_config({"CONFIG_VETH": "m", "CONFIG_BRIDGE": "m"}))
    (tmp_path / "drivers" / "net").mkdir(parents=True)
    (tmp_path / "drivers" / "net" / "veth.ko").write_bytes(b"")
    (tmp_path / "modules.order").write_text("drivers/net/veth.o\nnet/bridge/bridge.o\n")
    assert kconfig_cli.main(["--check", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out[:-1]] == ["CONFIG_BRIDGE=m"]
    assert out[-1].startswith(f"{tmp_path / '.config'}: ")


def test_cli_exit_2_on_malformed_config(tmp_path, capsys):
    """A malformed config exits 2 with an error naming file and line on stderr."""
    (tmp_path / "c").write_text("CONFIG_A=y\nnot a config line\n")
    assert kconfig_cli.main(["--check", str(tmp_path / "c")]) == 2
    assert f"error: {tmp_path / 'c'}:2:" in capsys.readouterr().err


def test_cli_exit_2_on_unreadable_config_or_modules(tmp_path, capsys):
    """A missing config file, or a --modules that is no directory, exits 2 naming it."""
    assert kconfig_cli.main(["--check", str(tmp_path / "nope")]) == 2
    assert "nope: cannot read" in capsys.readouterr().err
    (tmp_path / "c").write_text(full_config())
    assert kconfig_cli.main(["--check", str(tmp_path / "c"), "--modules", str(tmp_path / "none")]) == 2
    assert "--modules" in capsys.readouterr().err


def test_cli_usage_errors_exit_2(capsys):
    """No --check, or an unknown option, exits 2 with a usage message."""
    assert kconfig_cli.main([]) == 2
    assert "--check" in capsys.readouterr().err
    assert kconfig_cli.main(["--bogus"]) == 2


def test_cli_fragment_path(capsys):
    """--fragment-path prints the fragment's absolute path, for merge_config.sh."""
    assert kconfig_cli.main(["--fragment-path"]) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed == kconfig.FRAGMENT and printed.is_file()
