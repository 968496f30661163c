"""`python -m harness kconfig`: check a kernel .config or build tree against vm-images/kharness.config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import buildtree, kconfig

EPILOG = """examples:
  python -m harness kconfig --check ~/linux                  # a build tree: its .config and built modules
  python -m harness kconfig --check /boot/config-6.12.0 --modules
  python -m harness kconfig --check ~/linux/.config --modules ~/linux-install/lib/modules/6.13.0
  scripts/kconfig/merge_config.sh .config $(python -m harness kconfig --fragment-path)

exit status: 0 nothing missing, 1 options missing (or left to modules not given), 2 unreadable or malformed file
"""

# --modules without a directory: the modules will be given at run time.
_GIVEN = object()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness kconfig", description=__doc__, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", type=Path, metavar="CONFIG|TREE",
                        help="a .config file, or a kernel build tree (its .config, and its modules if built)")
    parser.add_argument("--modules", nargs="?", const=_GIVEN, type=Path, metavar="DIR",
                        help="the modules directory the run will use (lib/modules/<release>, or a build tree): "
                             "an =m option of a module the guest loads is met when its module is there; "
                             "without DIR, every such =m option is accepted")
    parser.add_argument("--fragment", type=Path, default=kconfig.FRAGMENT, metavar="FILE",
                        help="the fragment to check against (default: vm-images/kharness.config)")
    parser.add_argument("--fragment-path", action="store_true",
                        help="print the fragment's path (for scripts/kconfig/merge_config.sh) and exit")
    return parser


def available_modules(modules, checked: Path):
    """The module names the run will have: --modules DIR's, all of them for a bare --modules, a checked build
    tree's own, or None (unknown: =m options of the guest's modules are then reported)."""
    if modules is _GIVEN:
        return kconfig.AnyModule()
    if modules is not None:
        if not modules.is_dir():
            raise kconfig.KconfigError(f"--modules {modules}: not a directory (give lib/modules/<release> or a "
                                       "kernel build tree)")
        return buildtree.module_names(modules)
    if checked.is_dir():
        built = buildtree.tree_modules(checked)
        return set(built) if built is not None else None
    return None


def main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has printed
        return int(exc.code or 0)
    if args.fragment_path:
        print(args.fragment.resolve())
        return 0
    if args.check is None:
        parser.print_usage(sys.stderr)
        print("error: give --check CONFIG|TREE (or --fragment-path)", file=sys.stderr)
        return 2
    try:
        requirements = kconfig.load_fragment(args.fragment)
        config = kconfig.read_config(args.check)
        modules = available_modules(args.modules, args.check)
    except kconfig.KconfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    findings = kconfig.check(config, requirements, modules)
    for finding in findings:
        if finding.verdict != "ok":
            print(finding.line())
    print(kconfig.summary(findings, str(kconfig.config_path(args.check)), _shown(args.fragment)))
    return 0 if all(f.verdict == "ok" for f in findings) else 1


def _shown(fragment: Path) -> str:
    """The fragment's path relative to the project when it is the project's, else as given."""
    try:
        return str(fragment.resolve().relative_to(kconfig.FRAGMENT.parents[1]))
    except ValueError:
        return str(fragment)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
