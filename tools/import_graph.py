"""Scan every import between vtg's own modules, so cycles and layer breaches are visible.

The scan reads source with `ast` (nothing is imported), follows the vtg/methods and vtg/overlays
links, and counts every import: at module top, inside functions, relative ones, and
`from vtg.x import y` as an import of `vtg.x.y` when y is a submodule. Imports under
`if TYPE_CHECKING:` are left out: they never run, so they cannot form a runtime cycle.

Which imports of vtg modules may stay inside a function (:class:`Boundaries`): those that reach a
heavy library (torch, transformers, ... imported at a module's top, directly or through the
modules it imports at top), those that keep a cold path (``import vtg``, ``vtg --help``,
``vtg methods``) from loading modules it does not need, and ``from M import f`` where a test
replaces ``M.f`` (monkeypatch): moved to the top, the module would keep the original. An import
line marked ``# lazy: <why>`` stays as well.

Used by tests/test_import_layers.py and tools/hoist_imports.py; run it directly to print the
cycles and the number of imports of vtg modules that sit inside function bodies.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vtg"

#: Libraries whose import costs (tens of) milliseconds or more, or that are optional extras: a vtg
#: module importing one at its top is only ever imported inside the function that needs it.
HEAVY = frozenset({
    "torch", "torchvision", "torchcodec", "transformers", "tokenizers", "safetensors", "huggingface_hub",
    "open_clip", "av", "decord", "ray", "fastapi", "uvicorn", "starlette", "pydantic", "matplotlib", "faiss",
    "PIL", "easyocr", "easyocr_en_models", "cv2", "skvideo", "scipy", "selenium", "tqdm", "ffmpeg",
    "imageio_ffmpeg", "requests", "httpx", "jinja2", "regex",
})
#: The cold paths whose speed the boundaries keep: what each loads is measured by running it.
COLD_PATHS = {"import vtg": None, "vtg --help": ["--help"], "vtg methods": ["methods"]}
_PROBE = """
import atexit, json, runpy, sys
out, argv = sys.argv[1], json.loads(sys.argv[2])
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "vtg"))))
if argv is None:
    import vtg
else:
    sys.argv = ["vtg", *argv]
    runpy.run_module("vtg", run_name="__main__", alter_sys=True)  # as `python -m vtg ...` runs
"""
#: A comment that keeps one import inside its function, with the reason after it.
LAZY_MARK = "# lazy:"


@dataclass(frozen=True)
class Edge:
    """One import of a vtg module by another, where it sits and whether it runs lazily."""

    source: str
    target: str
    line: int
    in_function: bool


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (links to methods/ and overlays/ followed)."""
    found: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    for sub in ("methods", "overlays"):  # rglob does not descend into linked folders
        link = package / sub
        if link.is_symlink():
            for name, path in module_files_under(link.resolve(), f"vtg.{sub}").items():
                found[name] = path
    return found


def module_files_under(folder: Path, prefix: str) -> dict[str, Path]:
    """Modules of one (linked) package folder, named under `prefix`."""
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.py")):
        parts = list(path.relative_to(folder).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([prefix, *parts])] = path
    return found


def is_package(name: str, files: dict[str, Path]) -> bool:
    """Whether `name` is a package (its file is an __init__.py)."""
    return name in files and files[name].name == "__init__.py"


def absolute(module: str | None, level: int, here: str, files: dict[str, Path]) -> str:
    """The absolute dotted name a (possibly relative) `from ... import` refers to."""
    if level == 0:
        return module or ""
    base = here.split(".") if is_package(here, files) else here.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every runtime import statement with whether it sits inside a function body."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child.test):
                for other in child.orelse:
                    visit_one(other, in_function)
                continue
            visit_one(child, in_function)

    def visit_one(child: ast.AST, in_function: bool) -> None:
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            found.append((child, in_function))
            return
        inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        visit(child, inner)

    visit(tree, False)
    return found


def targets_of(node: ast.Import | ast.ImportFrom, here: str, files: dict[str, Path]) -> list[str]:
    """The vtg modules one import statement loads (the deepest known module per name)."""
    if isinstance(node, ast.Import):
        return [known_prefix(alias.name, files) for alias in node.names if alias.name.split(".")[0] == "vtg"]
    base = absolute(node.module, node.level, here, files)
    if base.split(".")[0] != "vtg":
        return []
    found = []
    for alias in node.names:
        full = f"{base}.{alias.name}"
        found.append(full if full in files else known_prefix(base, files))
    return found


def known_prefix(name: str, files: dict[str, Path]) -> str:
    """The longest prefix of a dotted name that is a module of the package."""
    parts = name.split(".")
    while parts and ".".join(parts) not in files:
        parts.pop()
    return ".".join(parts)


def scan(files: dict[str, Path] | None = None) -> list[Edge]:
    """Every import between vtg modules (self-imports and unknown names left out)."""
    files = files if files is not None else module_files()
    edges: list[Edge] = []
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, in_function in imports_of(tree):
            for target in targets_of(node, name, files):
                if target and target != name:
                    edges.append(Edge(name, target, node.lineno, in_function))
    return edges


def graph(edges: list[Edge]) -> dict[str, set[str]]:
    """Adjacency sets: module -> the vtg modules it imports.

    Importing `vtg.a.b` also runs `vtg.a/__init__.py`, so an edge to a submodule adds edges to
    the packages above it (except packages that contain the importer, which are already running).
    """
    adjacency: dict[str, set[str]] = {}
    for edge in edges:
        adjacency.setdefault(edge.source, set()).add(edge.target)
        parts = edge.target.split(".")
        for size in range(2, len(parts)):
            parent = ".".join(parts[:size])
            if not edge.source.startswith(parent + ".") and parent != edge.source:
                adjacency[edge.source].add(parent)
    return adjacency


def cycles(adjacency: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(adjacency.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for node in sorted(adjacency):
        if node not in index:
            connect(node)
    return sorted(found)


def shortest_cycle(component: list[str], adjacency: dict[str, set[str]]) -> list[str]:
    """One short cycle through the first module of a component, for a readable message."""
    start = component[0]
    members = set(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(adjacency.get(node, ())):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if nxt in members and nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return component


def heavy_importers(files: dict[str, Path]) -> set[str]:
    """Modules that import a :data:`HEAVY` library when they are imported (at their top level)."""
    found = set()
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, in_function in imports_of(tree):
            if in_function:
                continue
            roots = [a.name.split(".")[0] for a in node.names] if isinstance(node, ast.Import) else \
                [(node.module or "").split(".")[0]] if node.level == 0 else []
            if any(root in HEAVY for root in roots):
                found.add(name)
    return found


def reachable(adjacency: dict[str, set[str]], starts: list[str] | tuple[str, ...] | set[str]) -> set[str]:
    """Every module importing ``starts`` loads (the starts included)."""
    seen = set(starts)
    stack = list(starts)
    while stack:
        for nxt in adjacency.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def patched_names(tests: Path = ROOT / "tests") -> set[tuple[str, str]]:
    """``(module, name)`` of every ``monkeypatch.setattr(module, "name", ...)`` (or ``"module.name"``)
    in the tests, the module resolved through the test file's imports."""
    found: set[tuple[str, str]] = set()
    files = module_files()
    for path in sorted(tests.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vtg"):
                modules.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names
                                if f"{node.module}.{a.name}" in files})
            elif isinstance(node, ast.Import):
                modules.update({a.asname: a.name for a in node.names if a.asname and a.name.startswith("vtg")})
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "setattr" and len(node.args) >= 2):
                continue
            owner, attr = node.args[0], node.args[1]
            if isinstance(owner, ast.Constant) and isinstance(owner.value, str) and owner.value.startswith("vtg."):
                module, _, name = owner.value.rpartition(".")
                found.add((module, name))
            elif isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                text = ast.unparse(owner)
                resolved = modules.get(text) or (text if text in files else None)
                if resolved:
                    found.add((resolved, attr.value))
    return found


def startup_modules() -> dict[str, set[str]]:
    """The vtg modules each cold path (:data:`COLD_PATHS`) loads, each run in a fresh interpreter."""
    found: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "modules.json"
        for name, argv in COLD_PATHS.items():
            subprocess.run([sys.executable, "-c", _PROBE, str(out), json.dumps(argv)], cwd=ROOT, timeout=300,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            found[name] = set(json.loads(out.read_text()))
    return found


class Boundaries:
    """Where an import of a vtg module may stay inside a function, computed from the top-level graph."""

    def __init__(self, files: dict[str, Path] | None = None, edges: list[Edge] | None = None) -> None:
        self.files = files if files is not None else module_files()
        self.edges = edges if edges is not None else scan(self.files)
        self.top = graph([e for e in self.edges if not e.in_function])
        importers = heavy_importers(self.files)
        self.heavy = {m for m in self.files if reachable(self.top, [m]) & importers}
        self.cold = {path: loaded & set(self.files) for path, loaded in startup_modules().items()}
        self.startup = set().union(*self.cold.values())
        self.patched = patched_names()

    def reason(self, source: str, targets: list[str], line: str = "",
               names: list[tuple[str, str]] = ()) -> str | None:  # type: ignore[assignment]
        """Why an import of ``targets`` (``names``: its ``(module, name)`` pairs of a from-import) inside
        a function of ``source`` stays there, or None."""
        if LAZY_MARK in line:
            return "marked " + line[line.index(LAZY_MARK):].strip()
        patched = sorted(f"{m}.{n}" for m, n in names if (m, n) in self.patched)
        if patched:
            return f"late-bound: tests replace {', '.join(patched)}"
        heavy = sorted(t for t in targets if t in self.heavy)
        if heavy:
            return f"heavy boundary: {', '.join(heavy)} import(s) a heavy library at top level"
        for path, loaded in self.cold.items():  # each cold path loads no more than it does now
            late = sorted(t for t in targets if t not in loaded)
            if source in loaded and late:
                return f"start-up boundary: `{path}` loads {source}, not {', '.join(late)}"
        return None


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def imported_names(node: ast.Import | ast.ImportFrom, here: str, files: dict[str, Path]) -> list[tuple[str, str]]:
    """``(module, name)`` pairs a from-import binds (none for a plain import)."""
    if isinstance(node, ast.Import):
        return []
    base = absolute(node.module, node.level, here, files)
    return [(base, alias.name) for alias in node.names]


def unaccepted_lazy(boundaries: Boundaries) -> list[str]:
    """Imports of vtg modules inside functions that no boundary explains (``module:line -> targets``)."""
    found = []
    for source, path in sorted(boundaries.files.items()):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node, in_function in imports_of(ast.parse(text)):
            targets = [t for t in targets_of(node, source, boundaries.files) if t and t != source]
            if not in_function or not targets:
                continue
            names = imported_names(node, source, boundaries.files)
            if boundaries.reason(source, targets, lines[node.lineno - 1], names) is None:
                found.append(f"{source}:{node.lineno} -> {', '.join(sorted(set(targets)))}")
    return found


def main() -> int:
    edges = scan()
    adjacency = graph(edges)
    found = cycles(adjacency)
    for component in found:
        print(f"cycle ({len(component)} modules):", " -> ".join(shortest_cycle(component, adjacency)))
        print("   members:", ", ".join(component))
    lazy = [edge for edge in edges if edge.in_function]
    sites = {(e.source, e.line) for e in lazy}
    left = unaccepted_lazy(Boundaries(edges=edges))
    print(f"{len(found)} cycles; {len(edges)} imports of vtg modules, {len(lazy)} inside functions "
          f"({len(sites)} import statements, {len(left)} of them not at a heavy or start-up boundary)")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
