"""tools/check_wheel.py (CI's wheel check) catches each way a wheel can fall short."""
from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_wheel", REPO / "tools" / "check_wheel.py")
check_wheel = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_wheel)

STRIPPED = b"\x7fELF" + b"\0" * 60 + b".shstrtab\0.dynsym\0"
UNSTRIPPED = STRIPPED + b".symtab\0.strtab\0"


def good_files() -> dict[str, bytes]:
    files = {"pt-0.1.0.dist-info/licenses/LICENSE": b"MIT", "pt/py.typed": b"", "pt/__init__.py": b""}
    for pyx in REPO.glob("pt/*/*.pyx"):
        stem = pyx.relative_to(REPO).with_suffix("").as_posix()
        files[f"{stem}.cpython-311-x86_64-linux-gnu.so"] = STRIPPED
    return files


def wheel(tmp_path, files) -> Path:
    path = tmp_path / "pt-0.1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def test_a_complete_wheel_passes(tmp_path, capsys):
    assert check_wheel.main([str(wheel(tmp_path, good_files()))]) == 0
    assert "ok (tag cp311-cp311-linux_x86_64" in capsys.readouterr().out


@pytest.mark.parametrize("change, problem", [
    (lambda f: f.pop("pt-0.1.0.dist-info/licenses/LICENSE"), "no LICENSE"),
    (lambda f: f.pop("pt/py.typed"), "no pt/py.typed"),
    (lambda f: f.pop(next(n for n in f if n.startswith("pt/_kernels/_special."))), "_special.pyx"),
    (lambda f: f.update({"pt/_kernels/_special.cpython-311-x86_64-linux-gnu.so": UNSTRIPPED}), "not stripped"),
    (lambda f: f.update({"tests/fixtures/procfs/1/stat": b"1 (x) S"}), "does not belong"),
])
def test_each_shortfall_is_named(tmp_path, capsys, change, problem):
    files = good_files()
    change(files)
    assert check_wheel.main([str(wheel(tmp_path, files))]) == 1
    assert problem in capsys.readouterr().err
