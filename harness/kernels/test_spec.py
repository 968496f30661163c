"""Tests of the kernel matrix: a valid kernels.toml parses; each malformed one is an error naming its TOML path."""

from pathlib import Path

import pytest

from harness.kernels.spec import DEFAULT_MATRIX, MatrixError, PackageRef, load_matrix, parse_matrix

SHA_A = "a" * 64
SHA_B = "0123456789abcdef" * 4

VALID = f"""
default = ["old"]

[kernels.old]
description = "an old kernel"
release = "5.10.0-30-cloud-amd64"
suite = "bullseye"
packages = [
  {{ name = "linux-image-5.10.0-30-cloud-amd64-unsigned", version = "5.10.218-1", sha256 = "{SHA_A}" }},
]

[kernels.new]
release = "7.2.0-1-cloud-amd64"
packages = [
  {{ name = "linux-binary-7.2.0-1-cloud-amd64", version = "1:7.2-1", sha256 = "{SHA_B.upper()}" }},
  {{ name = "linux-modules-7.2.0-1-cloud-amd64", version = "1:7.2-1", sha256 = "{SHA_B}" }},
]
"""


def kernel_toml(body: str, name: str = "k") -> str:
    """A matrix with one kernel whose table body is `body`."""
    return f"[kernels.{name}]\n{body}\n"


GOOD_PACKAGE = f'packages = [{{ name = "p", version = "1", sha256 = "{SHA_A}" }}]'


def test_valid_matrix_parses_two_kernels_and_default_list():
    """Both kernels are parsed with their packages, suite and description; `default` is kept as given."""
    matrix = parse_matrix(VALID, Path("m.toml"))
    assert set(matrix.kernels) == {"old", "new"}
    assert matrix.default == ("old",)
    assert matrix.source == Path("m.toml")
    old = matrix.get("old")
    assert old.release == "5.10.0-30-cloud-amd64"
    assert old.suite == "bullseye"
    assert old.description == "an old kernel"
    assert old.packages == (PackageRef("linux-image-5.10.0-30-cloud-amd64-unsigned", "5.10.218-1", SHA_A),)
    new = matrix.get("new")
    assert new.suite is None
    assert [p.name for p in new.packages] == ["linux-binary-7.2.0-1-cloud-amd64", "linux-modules-7.2.0-1-cloud-amd64"]


def test_sha256_is_lowercased_and_cache_key_uses_its_prefix():
    """An upper-case digest is normalised to lower case; the cache key is name-release-sha[:12]."""
    new = parse_matrix(VALID).get("new")
    assert new.packages[0].sha256 == SHA_B
    assert new.cache_key == f"new-7.2.0-1-cloud-amd64-{SHA_B[:12]}"


def test_deb_name_escapes_epoch_colon():
    """apt-get download writes the epoch colon as %3a in the .deb file name."""
    ref = PackageRef("linux-binary-7.2", "1:7.2-1", SHA_A)
    assert ref.deb_name == "linux-binary-7.2_1%3a7.2-1_amd64.deb"


def test_default_defaults_to_every_kernel_in_file_order():
    """Without a `default` key every kernel of the file runs, in the file's order."""
    text = kernel_toml(f'release = "r1"\n{GOOD_PACKAGE}', "b") + kernel_toml(f'release = "r2"\n{GOOD_PACKAGE}', "a")
    assert parse_matrix(text).default == ("b", "a")


def test_invalid_toml_names_the_source_file():
    """TOML that does not parse is a MatrixError naming the file."""
    with pytest.raises(MatrixError, match=r"^broken\.toml: not valid TOML"):
        parse_matrix("[kernels.x\nrelease = ", Path("broken.toml"))


@pytest.mark.parametrize("text", ['default = ["x"]\n', "[kernels]\n", 'kernels = "6.1"\n'])
def test_missing_or_empty_kernels_table(text):
    """A file without a non-empty [kernels] table is refused, naming `kernels`."""
    with pytest.raises(MatrixError, match=r"kernels: missing or empty table"):
        parse_matrix(text)


def test_unknown_key_in_kernel_table_names_its_path():
    """A misspelt key of a kernel table is reported as kernels.<name>.<key>."""
    text = kernel_toml(f'release = "r"\nsuit = "bookworm"\n{GOOD_PACKAGE}')
    with pytest.raises(MatrixError, match=r"kernels\.k\.suit: unknown key$"):
        parse_matrix(text)


def test_unknown_key_in_package_names_its_index():
    """A misspelt key of a package is reported with the package's index."""
    text = kernel_toml(f'release = "r"\npackages = [{{ name = "p", version = "1", sha256 = "{SHA_A}", arch = "x" }}]')
    with pytest.raises(MatrixError, match=r"kernels\.k\.packages\[0\]\.arch: unknown key$"):
        parse_matrix(text)


def test_dotted_kernel_name_is_quoted_in_the_path():
    """A kernel named like a version (with a dot) is quoted in the TOML path of its errors."""
    text = kernel_toml(GOOD_PACKAGE, '"6.1"')
    with pytest.raises(MatrixError, match=r'kernels\."6\.1"\.release: missing$'):
        parse_matrix(text)


def test_missing_release_names_its_path_and_file():
    """A kernel without `release` is refused as kernels.<name>.release: missing, naming the file."""
    with pytest.raises(MatrixError, match=r"kernels\.k\.release: missing$") as err:
        parse_matrix(kernel_toml(GOOD_PACKAGE), Path("src.toml"))
    assert "src.toml" in str(err.value)


def test_release_of_wrong_type_names_its_path_and_type():
    """A non-string release says which type was expected and which was found."""
    with pytest.raises(MatrixError, match=r"kernels\.k\.release: expected str, got int$"):
        parse_matrix(kernel_toml(f"release = 61\n{GOOD_PACKAGE}"))


def test_empty_packages_names_its_path():
    """An empty package list is refused as kernels.<name>.packages."""
    with pytest.raises(MatrixError, match=r"kernels\.k\.packages: empty"):
        parse_matrix(kernel_toml('release = "r"\npackages = []'))


@pytest.mark.parametrize("digest", ["abc", "g" * 64, "a" * 63, "a" * 65])
def test_bad_sha256_names_its_path_and_value(digest):
    """A digest that is not 64 hex digits is refused, naming the package's sha256 and the value."""
    text = kernel_toml(f'release = "r"\npackages = [{{ name = "p", version = "1", sha256 = "{digest}" }}]')
    with pytest.raises(MatrixError, match=r"kernels\.k\.packages\[0\]\.sha256: not a sha256") as err:
        parse_matrix(text)
    assert digest in str(err.value)


def test_package_that_is_not_a_table():
    """A package given as a bare string is refused with its index."""
    with pytest.raises(MatrixError, match=r"kernels\.k\.packages\[0\]: expected a table"):
        parse_matrix(kernel_toml('release = "r"\npackages = ["linux-image"]'))


def test_default_naming_unknown_kernel_names_its_index():
    """A `default` entry that is no kernel of the file is refused with its index and name."""
    text = 'default = ["k", "nope"]\n' + kernel_toml(f'release = "r"\n{GOOD_PACKAGE}')
    with pytest.raises(MatrixError, match=r"src\.toml: default\[1\]: 'nope' is not a kernel"):
        parse_matrix(text, Path("src.toml"))


def test_default_that_is_not_a_list_of_strings():
    """`default` must be a list of names."""
    text = 'default = "k"\n' + kernel_toml(f'release = "r"\n{GOOD_PACKAGE}')
    with pytest.raises(MatrixError, match=r"default: expected a list of kernel names"):
        parse_matrix(text)


def test_unknown_top_level_key_is_refused():
    """A misspelt top-level key (defaults for default) is an error naming it, like unknown keys deeper down."""
    text = 'defaults = ["k"]\n' + kernel_toml(f'release = "r"\n{GOOD_PACKAGE}')
    with pytest.raises(MatrixError, match=r"defaults"):
        parse_matrix(text)


def test_get_unknown_kernel_lists_known_names():
    """Asking for a kernel the matrix lacks names it and every known kernel."""
    matrix = parse_matrix(VALID, Path("m.toml"))
    with pytest.raises(MatrixError) as err:
        matrix.get("6.6")
    message = str(err.value)
    assert "'6.6'" in message
    assert "m.toml defines new, old" in message


def test_load_matrix_of_missing_file(tmp_path):
    """An unreadable matrix file is a MatrixError naming the path."""
    missing = tmp_path / "none.toml"
    with pytest.raises(MatrixError, match="cannot read the kernel matrix"):
        load_matrix(missing)


def test_real_kernels_toml_loads_with_default_6_1_and_6_12():
    """The repository's vm-images/kernels.toml is valid and its default runs (at least) 6.1 and 6.12, in that order."""
    matrix = load_matrix(DEFAULT_MATRIX)
    default = list(matrix.default)
    assert "6.1" in default and "6.12" in default
    assert default.index("6.1") < default.index("6.12")
    assert len(set(default)) == len(default)
    for name in matrix.default:
        spec = matrix.get(name)
        assert spec.packages and spec.release
