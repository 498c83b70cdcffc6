"""The public API of pt.kernels is typed, and the compiled modules' stubs match them.

Every public function and method has a resolvable annotation on each parameter
and on its return; each ``pt/_kernels/*.pyi`` stub names exactly the public
functions its compiled module has, with the same parameters in the same order.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import platform
import typing
from pathlib import Path

import pytest

import pt.kernels as K

STUBS = sorted((Path(K.__file__).parent / "_kernels").glob("*.pyi"))


def _public_callables():
    for name in K.__all__:
        obj = getattr(K, name)
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if inspect.isfunction(member) and (not attr.startswith("_") or attr == "__init__"):
                    yield f"{name}.{attr}", member
                elif isinstance(member, property):
                    yield f"{name}.{attr}", member.fget


@pytest.mark.parametrize("name, fn", list(_public_callables()), ids=lambda v: v if isinstance(v, str) else "")
def test_public_api_is_annotated(name, fn):
    hints = typing.get_type_hints(fn)            # resolves every annotation (raises if one cannot be)
    params = [p for p in inspect.signature(fn).parameters.values() if p.name not in ("self", "cls")]
    missing = [p.name for p in params if p.name not in hints]
    assert not missing, f"{name}: parameters without a type: {missing}"
    assert "return" in hints, f"{name}: no return type"


def test_every_name_in_all_is_public_api():
    assert sorted(K.__all__) == sorted(set(K.__all__))
    for name in K.__all__:
        assert not name.startswith("_") and hasattr(K, name)


def _stub_functions(path):
    """{name: [parameter names]} of the top-level functions of a stub file, with those
    of a sibling stub it star-imports (a module built twice from one source)."""
    tree = ast.parse(path.read_text())
    functions = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and [a.name for a in node.names] == ["*"]:
            functions.update(_stub_functions(path.with_name(node.module + ".pyi")))
    functions.update({node.name: [arg.arg for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
                      for node in tree.body if isinstance(node, ast.FunctionDef)})
    return functions


@pytest.mark.parametrize("stub", STUBS, ids=lambda p: p.stem)
def test_stub_matches_compiled_module(stub):
    if stub.stem.endswith("_avx2") and platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the AVX2 builds exist on x86-64 only")
    module = importlib.import_module(f"pt._kernels.{stub.stem}")
    compiled = {name: obj for name, obj in vars(module).items()
                if callable(obj) and not name.startswith("_") and not inspect.isclass(obj)
                and getattr(obj, "__module__", None) == module.__name__}
    stubbed = _stub_functions(stub)
    assert sorted(stubbed) == sorted(compiled), f"{stub.name} lists other functions than {module.__name__} has"
    for name, params in stubbed.items():
        actual = list(inspect.signature(compiled[name]).parameters)
        assert params == actual, f"{stub.name}: {name}{tuple(params)} but the module has {name}{tuple(actual)}"
