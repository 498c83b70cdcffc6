"""Check a built pt wheel: what must be in it, and what must not.

    python tools/check_wheel.py dist/pt-*.whl

Exits 1 naming every problem: a missing LICENSE (in ``.dist-info/licenses``),
``pt/py.typed``, a compiled module of ``pt/_kernels`` or ``pt/collect`` (one
per ``.pyx``), an extension module that still carries a symbol table (not
stripped), or anything from the repository's ``tests/``, ``bench/`` or
``tools/``.  Prints the wheel's tag, size and file count when it passes.
"""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("tests/", "bench/", "tools/", "pt/tests/")


def _elf_has_symtab(data: bytes) -> bool:
    """True when an ELF file has a ``.symtab`` section (GNU strip removes it).
    The name only occurs in the section-name table when the section exists."""
    return data[:4] == b"\x7fELF" and b".symtab\x00" in data


def problems(wheel: Path) -> list[str]:
    """Every way ``wheel`` falls short (empty when it is fine)."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        found = []
        if not any(n.split("/")[0].endswith(".dist-info") and n.endswith("/licenses/LICENSE")
                   for n in names):
            found.append("no LICENSE in .dist-info/licenses")
        if "pt/py.typed" not in names:
            found.append("no pt/py.typed")
        for pyx in sorted(REPO.glob("pt/*/*.pyx")):
            stem = pyx.relative_to(REPO).with_suffix("").as_posix()
            if not any(n.startswith(stem + ".") and n.endswith((".so", ".pyd")) for n in names):
                found.append(f"no compiled module for {stem}.pyx")
        for name in names:
            if name.startswith(FORBIDDEN):
                found.append(f"{name} does not belong in the wheel")
            if name.endswith(".so") and _elf_has_symtab(zf.read(name)):
                found.append(f"{name} is not stripped (has .symtab)")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: check_wheel.py WHEEL", file=sys.stderr)
        return 2
    wheel = Path(argv[0])
    found = problems(wheel)
    for problem in found:
        print(f"check_wheel: {wheel.name}: {problem}", file=sys.stderr)
    if found:
        return 1
    with zipfile.ZipFile(wheel) as zf:
        count = len(zf.namelist())
    tag = wheel.name[:-len(".whl")].split("-", 2)[2]
    print(f"check_wheel: {wheel.name}: ok (tag {tag}, {wheel.stat().st_size / 1e6:.2f} MB, {count} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
