"""Every third-party module pt imports is a dependency it declares: a module
missing from ``[project].dependencies`` works in the test environment (whose
extras bring it) and fails with a traceback after ``pip install pt``. Found
when ``pt calibrate`` raised ModuleNotFoundError for scipy on a plain install."""
import ast
import sys
import tomllib
from pathlib import Path

import pt

ROOT = Path(pt.__file__).parent

#: Imported only where an extra is checked first, or by the test helpers.
OPTIONAL = {"mcp": "pt/mcp_server.py (pt mcp checks for the SDK and names the extra)",
            "pydantic": "pt/mcp_server.py (comes with the MCP SDK)",
            "mpmath": "pt/testing (the test extra)"}
#: Distribution names where they differ from the module's.
DISTRIBUTION = {}


def _imported(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.partition(".")[0])
    return out


def _declared() -> set[str]:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    names = set()
    for dep in deps:
        name = dep.split(";")[0]
        for stop in "<>=!~[ ":
            name = name.split(stop)[0]
        names.add(name.strip().lower())
    return names


def test_every_third_party_import_is_a_declared_dependency():
    third_party = {}
    for path in ROOT.rglob("*.py"):
        for module in _imported(path) - set(sys.stdlib_module_names) - {"pt", "__future__"}:
            third_party.setdefault(module, path.relative_to(ROOT.parent).as_posix())
    assert {"numpy", "scipy", "rich", "pyarrow", "duckdb"} <= set(third_party)   # the walk sees them
    declared = _declared()
    missing = {m: where for m, where in third_party.items()
               if DISTRIBUTION.get(m, m).lower() not in declared and m not in OPTIONAL}
    assert not missing, f"imported but not in [project].dependencies: {missing}"
