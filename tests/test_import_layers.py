"""vtg's import structure, read from the source (tools/import_graph.py; nothing is imported).

Every import of a vtg module counts, at module top or inside a function, relative or absolute,
``from vtg.x import y`` as an import of the submodule ``vtg.x.y`` when it is one, and importing a
submodule as importing the packages above it (their ``__init__`` runs first). What holds:

* no cycle among vtg's modules;
* the layer order of docs/design (DESIGN.md): a module imports only modules of its own layer or
  below, so core types never reach up into front ends;
* vtg's core (everything but the method and overlay plugins) names no particular method: methods
  are reached through the registry's entry-point strings (vtg.registry), and vtg/library imports
  no method at all;
* an import of a vtg module sits inside a function only at a boundary: it reaches a heavy library
  (torch, transformers, ...), it keeps a cold path (``import vtg``, ``vtg --help``, ``vtg methods``)
  from loading a module it does not need, or its line says ``# lazy: <why>``. tools/hoist_imports.py
  moves every other one to the module's top.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import import_graph as graph  # noqa: E402

#: Lowest first. A module may import modules of its own layer or of the layers below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("vtg.errors", "vtg.options", "vtg.types", "vtg.record", "vtg.envvars", "vtg.outputs", "vtg.fileio",
              "vtg.jsonl", "vtg.timefmt", "vtg.filestamp", "vtg.net", "vtg.device", "vtg.determinism", "vtg.stages",
              "vtg.predictions", "vtg.feature_store", "vtg.halfdot", "vtg.contextvalue", "vtg.engine", "vtg.settings")),
    ("media and models", ("vtg.video", "vtg.encoders", "vtg.modelsize", "vtg.llm")),
    ("contract and features", ("vtg.planning", "vtg.method", "vtg.registry", "vtg.features", "vtg.pipeline",
                               "vtg.slowfast", "vtg.writers", "vtg.drawing", "vtg.plot")),
    ("api and evaluation", ("vtg", "vtg.api", "vtg.session", "vtg.eval")),
    ("method plugins", ("vtg.methods", "vtg.overlays")),
    ("applications", ("vtg.library", "vtg.batch", "vtg.export", "vtg.report")),
    ("front ends", ("vtg.serve", "vtg.cli", "vtg.__main__", "vtg.methods.*.cli")),
]


@pytest.fixture(scope="module")
def edges() -> list[graph.Edge]:
    return graph.scan()


def layer_of(module: str) -> int:
    """Index in LAYERS of the most specific prefix naming ``module`` (``*`` matches one name)."""
    best, best_len = None, -1
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if matches(module, prefix) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add its package to LAYERS in {Path(__file__).name}")
    return best


def matches(module: str, prefix: str) -> bool:
    mod, pre = module.split("."), prefix.split(".")
    if pre == ["vtg"]:
        return mod == ["vtg"]
    return len(mod) >= len(pre) and all(p in ("*", m) for p, m in zip(pre, mod))


def test_the_scan_sees_every_kind_of_import(edges):
    """The scanner is not blind: known imports of each kind are found (top level, inside a
    function, relative, a submodule named in ``from package import name``, methods via the link)."""
    found = {(e.source, e.target, e.in_function) for e in edges}
    assert ("vtg.video.pyav_backend", "vtg.video.segments", False) in found  # top level
    assert ("vtg.serve", "vtg.serve.app", True) in found                      # inside a function
    assert ("vtg.slowfast.download", "vtg.slowfast.weights", False) in found  # `from . import weights`
    assert any(e.source.startswith("vtg.methods.") for e in edges)            # methods/ through the link
    on_disk = [p for top in ("vtg", "methods", "overlays") for p in (graph.ROOT / top).rglob("*.py")]
    assert len(graph.module_files()) == len(on_disk)  # every file, once (vtg/methods is a link to methods/)


def test_no_import_cycle_among_vtg_modules(edges):
    adjacency = graph.graph(edges)
    found = graph.cycles(adjacency)
    shown = ["  " + " -> ".join(graph.shortest_cycle(c, adjacency)) + f"   (all: {', '.join(c)})" for c in found]
    assert not found, "import cycles (every import counted):\n" + "\n".join(shown)


def test_the_scanner_finds_a_cycle_hidden_in_a_function(tmp_path):
    """A cycle closed only by an import inside a function is still a cycle."""
    package = tmp_path / "vtg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from vtg.b import thing\n")
    (package / "b.py").write_text("thing = 1\n\ndef late():\n    from . import a\n    return a\n")
    files = graph.module_files(package)
    found = graph.cycles(graph.graph(graph.scan(files)))
    assert found == [["vtg.a", "vtg.b"]]


def test_layers_are_respected(edges):
    wrong = sorted({f"{e.source}:{e.line} ({LAYERS[layer_of(e.source)][0]}) imports {e.target} "
                    f"({LAYERS[layer_of(e.target)][0]})"
                    for e in edges if layer_of(e.target) > layer_of(e.source)})
    assert not wrong, "imports that reach up a layer:\n" + "\n".join(wrong)


def test_every_module_has_a_layer():
    for module in graph.module_files():
        layer_of(module)


def test_core_names_no_method(edges):
    """Only the plugins themselves (vtg.methods, vtg.overlays) import vtg.methods.*; the rest of vtg
    reaches a method through vtg.registry's entry points (strings, not imports)."""
    wrong = sorted({f"{e.source}:{e.line} imports {e.target}" for e in edges
                    if e.target.startswith("vtg.methods") and not e.source.startswith(("vtg.methods", "vtg.overlays"))
                    and not e.source.startswith("vtg.library.")})
    assert not wrong, "\n".join(wrong)


@pytest.mark.xfail((graph.PACKAGE / "library" / "tfvtg.py").exists(), strict=True,
                   reason="vtg/library/tfvtg.py is TFVTG's searcher; it moves into methods/tfvtg behind the "
                          "localise-on-features capability (issue 18, capability branch)")
def test_library_imports_no_method(edges):
    wrong = sorted({f"{e.source}:{e.line} imports {e.target}" for e in edges
                    if e.source.startswith("vtg.library") and e.target.startswith("vtg.methods")})
    assert not wrong, "\n".join(wrong)


def test_registry_reaches_methods_only_through_entry_points():
    """vtg's own methods are declared as entry points in pyproject.toml, as a plugin's would be."""
    text = (graph.ROOT / "pyproject.toml").read_text()
    assert '[project.entry-points."vtg.methods"]' in text and '"vtg.methods.tfvtg:TFVTG"' in text


def test_imports_inside_functions_are_only_at_boundaries():
    """Run tools/hoist_imports.py to move the others to the top of their modules."""
    left = graph.unaccepted_lazy(graph.Boundaries())
    assert not left, (f"{len(left)} imports of vtg modules inside functions are at no heavy or start-up boundary "
                      "(python tools/hoist_imports.py moves them to the module top):\n" + "\n".join(left[:40]))


def test_boundaries_are_told_apart():
    """The boundary rules themselves: a heavy target, a start-up module, a marked line."""
    bounds = graph.Boundaries()
    assert "vtg.encoders.blip2_text" in bounds.heavy          # imports torch at its top
    assert "vtg.types" not in bounds.heavy
    assert "vtg.cli.main" in bounds.startup and "vtg.features" not in bounds.startup
    assert bounds.reason("vtg.encoders.blip2", ["vtg.encoders.blip2_text"]).startswith("heavy")
    assert bounds.reason("vtg.cli.main", ["vtg.features"]).startswith("start-up")
    assert bounds.reason("vtg.features", ["vtg.types"]) is None
    assert bounds.reason("vtg.features", ["vtg.types"], "    from vtg.types import X  # lazy: patched in tests")
