"""Tests of kernel module handling: .modinfo parsing on synthetic ELF files, names, decompression, resolve order."""

import glob
import gzip
import lzma
import struct
from pathlib import Path

import pytest

from harness.kernels import modules as kmod
from harness.kernels.modules import ModuleError


def elf_with_sections(sections: list[tuple[str, bytes]]) -> bytes:
    """A minimal little-endian ELF64 relocatable: a null section, the given ones, then .shstrtab."""
    names = [""] + [name for name, _ in sections] + [".shstrtab"]
    shstrtab = b""
    name_offsets = []
    for name in names:
        name_offsets.append(len(shstrtab))
        shstrtab += name.encode() + b"\0"
    contents = [b""] + [data for _, data in sections] + [shstrtab]
    body = b""
    offsets = []
    for data in contents:
        offsets.append(64 + len(body))
        body += data
    body += b"\0" * (-(64 + len(body)) % 8)
    shoff = 64 + len(body)
    shnum = len(contents)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    header = ident + struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, shnum, shnum - 1)
    table = b""
    for i, data in enumerate(contents):
        sh_type = 0 if i == 0 else (3 if i == shnum - 1 else 1)
        table += struct.pack("<IIQQQQIIQQ", name_offsets[i], sh_type, 0, 0,
                             offsets[i] if i else 0, len(data), 0, 0, 1, 0)
    return header + body + table


def module_elf(name: str, deps: list[str] = ()) -> bytes:
    """A synthetic module whose .modinfo says depends=<deps> and name=<name>."""
    info = b"license=GPL\0" + f"depends={','.join(deps)}\0".encode() + f"name={name}\0".encode()
    return elf_with_sections([(".text", b"\x90" * 5), (".modinfo", info)])


def test_modinfo_reads_key_value_pairs():
    """Every key=value of .modinfo is returned, repeated keys as several values."""
    elf = elf_with_sections([(".modinfo", b"alias=a1\0alias=a2\0depends=llc,stp\0name=bridge\0")])
    info = kmod.modinfo(elf)
    assert info["alias"] == ["a1", "a2"]
    assert info["depends"] == ["llc,stp"]
    assert info["name"] == ["bridge"]


def test_depends_splits_and_normalises_dashes():
    """depends= is split on commas with '-' turned into '_'; an empty depends= means none."""
    assert kmod.depends(module_elf("bridge", ["stp", "llc-x"])) == ["stp", "llc_x"]
    assert kmod.depends(module_elf("veth")) == []


def test_depends_without_depends_field():
    """A .modinfo without depends= means no dependencies."""
    assert kmod.depends(elf_with_sections([(".modinfo", b"name=x\0")])) == []


def test_not_an_elf64_le_file_is_refused():
    """Bytes that are not a little-endian ELF64 raise ModuleError naming the file."""
    with pytest.raises(ModuleError, match="where.ko: not a little-endian ELF64"):
        kmod.modinfo(b"\x7fELF\x01\x01" + b"\0" * 100, "where.ko")


def test_elf_without_modinfo_is_refused():
    """An ELF file without a .modinfo section raises ModuleError."""
    with pytest.raises(ModuleError, match="no .modinfo section"):
        kmod.modinfo(elf_with_sections([(".text", b"\xc3")]), "x.ko")


@pytest.mark.parametrize("path, name", [
    ("kernel/net/veth.ko", "veth"),
    ("bridge.ko.xz", "bridge"),
    ("nf-nat.ko.gz", "nf_nat"),
    ("a-b-c.ko.zst", "a_b_c"),
    ("8021q", "8021q"),
])
def test_module_name_strips_suffix_and_maps_dashes(path, name):
    """The kernel name of a module file has no .ko[.xz|.gz|.zst] suffix and '_' for '-'."""
    assert kmod.module_name(path) == name


def test_read_module_decompresses_xz_and_gz(tmp_path):
    """read_module returns the same ELF bytes for plain, .xz and .gz files."""
    elf = module_elf("veth")
    (tmp_path / "veth.ko").write_bytes(elf)
    (tmp_path / "veth.ko.xz").write_bytes(lzma.compress(elf, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32))
    (tmp_path / "veth.ko.gz").write_bytes(gzip.compress(elf))
    for name in ("veth.ko", "veth.ko.xz", "veth.ko.gz"):
        assert kmod.read_module(tmp_path / name) == elf


def make_tree(root: Path, mods: dict[str, list[str]], suffix: str = ".ko") -> Path:
    """Write synthetic modules (name -> deps) under root/kernel/..., compressed for .ko.xz."""
    for i, (name, deps) in enumerate(mods.items()):
        path = root / "kernel" / f"dir{i % 2}" / (name.replace("_", "-") + suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = module_elf(name, deps)
        path.write_bytes(lzma.compress(data) if suffix == ".ko.xz" else data)
    return root


def test_index_maps_names_to_files(tmp_path):
    """index() finds modules in subdirectories and ignores files that are not modules."""
    make_tree(tmp_path, {"veth": [], "nf_nat": []}, ".ko.xz")
    (tmp_path / "kernel" / "dir0" / "veth.ko.xz.sig").write_bytes(b"sig")
    (tmp_path / "modules.order").write_text("kernel/dir0/veth.ko\n")
    found = kmod.index(tmp_path)
    assert set(found) == {"veth", "nf_nat"}
    assert found["nf_nat"].name == "nf-nat.ko.xz"


def test_builtin_reads_modules_builtin(tmp_path):
    """builtin() lists the names of modules.builtin; without the file the set is empty."""
    assert kmod.builtin(tmp_path) == set()
    (tmp_path / "modules.builtin").write_text("kernel/drivers/virtio/virtio_pci.ko\n\nkernel/drivers/char/virtio-console.ko\n")
    assert kmod.builtin(tmp_path) == {"virtio_pci", "virtio_console"}


def test_resolve_puts_dependencies_first_each_once(tmp_path):
    """Every dependency comes before its dependents and a shared dependency is packed once."""
    make_tree(tmp_path, {"veth": [], "llc": [], "stp": ["llc"], "bridge": ["stp", "llc"],
                         "overlay": [], "unused": []}, ".ko.xz")
    resolved = kmod.resolve(["veth", "bridge", "overlay"], kmod.index(tmp_path), set())
    names = [m.name for m in resolved]
    assert names == ["veth", "llc", "stp", "bridge", "overlay"]
    assert kmod.depends(resolved[3].data) == ["stp", "llc"]


def test_resolve_normalises_wanted_names(tmp_path):
    """A wanted name with '-' is resolved like the kernel's '_' name."""
    make_tree(tmp_path, {"nf_nat": []})
    assert [m.name for m in kmod.resolve(["nf-nat"], kmod.index(tmp_path), set())] == ["nf_nat"]


def test_resolve_leaves_out_builtin_dependencies_and_wanted(tmp_path):
    """Built-in modules, wanted or depended on, are not packed."""
    make_tree(tmp_path, {"virtio_net": ["virtio", "net_failover"], "net_failover": ["failover"]})
    resolved = kmod.resolve(["virtio_net", "virtio_pci"], kmod.index(tmp_path), {"virtio", "failover", "virtio_pci"})
    assert [m.name for m in resolved] == ["net_failover", "virtio_net"]


def test_resolve_missing_dependency_names_who_needs_it(tmp_path):
    """A dependency neither packed nor built in is an error naming it and its dependent."""
    make_tree(tmp_path, {"bridge": ["stp"]})
    with pytest.raises(ModuleError, match=r"module stp \(needed by bridge\) is neither in the package nor built in"):
        kmod.resolve(["bridge"], kmod.index(tmp_path), {"other"})


def test_resolve_missing_wanted_module(tmp_path):
    """A wanted module that is absent (with other modules present) is an error naming it."""
    make_tree(tmp_path, {"veth": []})
    with pytest.raises(ModuleError, match=r"^module overlay is neither"):
        kmod.resolve(["veth", "overlay"], kmod.index(tmp_path), set())


def test_resolve_cycle_is_an_error(tmp_path):
    """A dependency cycle is an error that shows the cycle."""
    make_tree(tmp_path, {"a": ["b"], "b": ["c"], "c": ["a"]})
    with pytest.raises(ModuleError, match=r"dependency cycle: a -> b -> c -> a"):
        kmod.resolve(["a"], kmod.index(tmp_path), set())


def test_resolve_uses_given_reader(tmp_path):
    """The reader seam is used to get each module's bytes, once per module."""
    files = {"x": tmp_path / "x.ko", "y": tmp_path / "y.ko"}
    elves = {files["x"]: module_elf("x", ["y"]), files["y"]: module_elf("y")}
    calls = []

    def reader(path):
        calls.append(path.name)
        return elves[path]

    resolved = kmod.resolve(["x", "y"], files, set(), reader=reader)
    assert [m.name for m in resolved] == ["y", "x"]
    assert sorted(calls) == ["x.ko", "y.ko"]


REAL_MODULE_DIRS = sorted(glob.glob("/root/.cache/kernel-harness/kernels/*/lib/modules/*/kernel"))


@pytest.mark.skipif(not REAL_MODULE_DIRS, reason="no extracted Debian kernel in /root/.cache/kernel-harness")
def test_real_debian_modules_resolve_veth_bridge_overlay():
    """On real extracted Debian kernels, veth/bridge/overlay resolve to veth, llc, stp, bridge, overlay."""
    for kernel_dir in REAL_MODULE_DIRS:
        modules_dir = Path(kernel_dir).parent
        resolved = kmod.resolve(["veth", "bridge", "overlay"], kmod.index(modules_dir), kmod.builtin(modules_dir))
        names = [m.name for m in resolved]
        assert sorted(names) == sorted(["veth", "llc", "stp", "bridge", "overlay"]), modules_dir
        assert names.index("llc") < names.index("stp") < names.index("bridge"), modules_dir
        assert all(m.data[:4] == b"\x7fELF" for m in resolved)
