"""Move imports of vtg modules out of function bodies to the top of their modules (issue 18).

    python tools/hoist_imports.py            # rewrite the files, print what moved and what stayed
    python tools/hoist_imports.py --check    # rewrite nothing; exit 1 when something would move

An import inside a function stays where it is only at a boundary (tools/import_graph.py,
:class:`Boundaries`): its target imports a heavy library at top level (torch, transformers, ...), its
module is loaded by a cold path (``import vtg``, ``vtg --help``, ``vtg methods``) and the target is
not, a test monkeypatches the imported name in its module (moved to the top, the module would keep
the original), or its line says ``# lazy: <why>``. Every other one is removed from the function and merged into
the module's top-level block of vtg imports (one statement per module, names sorted as isort
sorts them: constants, classes, functions). Imports under ``if TYPE_CHECKING:`` are never touched.

Skipped, and listed, where moving would change what a name means: the module already binds the name
to something else, two functions import the same name from different modules, the function also
assigns the name, the import sits in a ``try`` (an optional dependency), or it is the only statement
of its block. Run it on the whole tree; it needs no cycle among vtg modules (test_import_layers.py).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import import_graph as graph  # noqa: E402

LINE = 120  # the project's line length


@dataclass
class Plan:
    """What moves in one module: statements to delete, and the names to add at the top."""

    delete: list[ast.stmt] = field(default_factory=list)
    from_names: dict[str, set[tuple[str, str | None]]] = field(default_factory=dict)  # "vtg.x" -> {(name, asname)}
    plain: set[tuple[str, str | None]] = field(default_factory=set)  # import vtg.x [as y]
    kept: list[str] = field(default_factory=list)


def module_text(node: ast.ImportFrom) -> str:
    return "." * node.level + (node.module or "")


def bound_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    return [a.asname or (a.name.split(".")[0] if isinstance(node, ast.Import) else a.name) for a in node.names]


def parents_of(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def enclosing_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST | None:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node
    return None


def inside_try(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` sits in a ``try`` that catches ImportError (an optional dependency)."""
    while node in parents and not isinstance(parents[node], (ast.FunctionDef, ast.AsyncFunctionDef)):
        node = parents[node]
        if isinstance(node, ast.Try) and any(catches_import_error(h.type) for h in node.handlers):
            return True
    return False


def catches_import_error(kind: ast.expr | None) -> bool:
    names = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


def assigned_in(function: ast.AST, name: str, except_node: ast.AST) -> bool:
    """Whether ``function`` binds ``name`` other than by ``except_node`` (a parameter, assignment, other import)."""
    args = function.args  # type: ignore[attr-defined]
    params = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    params += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    if name in params:
        return True
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node is not except_node:
            if name in bound_names(node) and not same_import(node, except_node):
                return True
    return False


def same_import(a: ast.AST, b: ast.AST) -> bool:
    return ast.dump(a) == ast.dump(b)


def top_level_bindings(tree: ast.Module) -> dict[str, str]:
    """Name -> what binds it at module level (an import's source, or "definition")."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                found[alias.asname or alias.name] = f"from {module_text(node)} import {alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                found[alias.asname or alias.name.split(".")[0]] = f"import {alias.name}" if alias.asname else "import"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = "definition"
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    found.setdefault(sub.id, "definition")
    return found


def binding_of(node: ast.Import | ast.ImportFrom, alias: ast.alias) -> str:
    if isinstance(node, ast.ImportFrom):
        return f"from {module_text(node)} import {alias.name}"
    return f"import {alias.name}" if alias.asname else "import"


def plan_module(name: str, tree: ast.Module, lines: list[str], bounds: graph.Boundaries) -> Plan:
    plan = Plan()
    parents = parents_of(tree)
    top = top_level_bindings(tree)
    claims: dict[str, set[str]] = {}
    candidates = []
    for node, in_function in graph.imports_of(tree):
        if not in_function or enclosing_function(node, parents) is None:
            continue
        targets = graph.targets_of(node, name, bounds.files)
        if not targets or len(targets) != len(node.names) or not all(targets):
            continue  # not (only) vtg modules
        where = f"{name}:{node.lineno}"
        why = bounds.reason(name, targets, lines[node.lineno - 1], graph.imported_names(node, name, bounds.files))
        if why is None and inside_try(node, parents):
            why = "inside a try that catches ImportError"
        if why is None and all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in block_of(node, parents)):
            why = "the only statements of their block"
        function = enclosing_function(node, parents)
        for alias in node.names:
            bound = alias.asname or (alias.name.split(".")[0] if isinstance(node, ast.Import) else alias.name)
            binding = binding_of(node, alias)
            if why is None and top.get(bound, binding) != binding and not (binding == "import" and top.get(bound) == "import"):
                why = f"{bound!r} already means {top[bound]} at module level"
            if why is None and function is not None and assigned_in(function, bound, node):
                why = f"the function also binds {bound!r}"
            claims.setdefault(bound, set()).add(binding)
        if why:
            plan.kept.append(f"{where}: {why}")
        else:
            candidates.append(node)
    clashing = {bound for bound, sources in claims.items() if len(sources) > 1 and "import" not in sources}
    for node in candidates:
        clash = [b for b in bound_names(node) if b in clashing]
        if clash:
            plan.kept.append(f"{name}:{node.lineno}: functions import {clash[0]!r} from different places")
            continue
        plan.delete.append(node)
        if isinstance(node, ast.ImportFrom):
            plan.from_names.setdefault(module_text(node), set()).update((a.name, a.asname) for a in node.names)
        else:
            plan.plain.update((a.name, a.asname) for a in node.names)
    return plan


def block_of(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> list[ast.stmt]:
    """The statement list ``node`` belongs to (a function body, an if branch, ...)."""
    parent = parents[node]
    for attr in ("body", "orelse", "finalbody", "handlers"):
        block = getattr(parent, attr, None)
        if isinstance(block, list) and node in block:
            return [s for s in block if not is_docstring(s)]
    return [node]  # type: ignore[list-item]


def is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def sort_key(name: str) -> tuple[int, str]:
    """isort's order_by_type: CONSTANTS, then Classes, then functions and modules."""
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name


def render_from(module: str, names: set[tuple[str, str | None]]) -> str:
    parts = [f"{n} as {a}" if a else n for n, a in sorted(names, key=lambda na: (sort_key(na[0]), na[1] or ""))]
    one = f"from {module} import {', '.join(parts)}"
    if len(one) <= LINE:
        return one
    head = f"from {module} import ("
    lines, current = [], head
    for i, part in enumerate(parts):
        piece = part + (")" if i == len(parts) - 1 else ",")
        if current not in (head, " " * len(head)) and len(current) + 1 + len(piece) > LINE:
            lines.append(current.rstrip())
            current = " " * len(head)
        current += ("" if current.endswith("(") or current.isspace() else " ") + piece
    lines.append(current)
    return "\n".join(lines)


def render_plain(name: str, asname: str | None) -> str:
    return f"import {name} as {asname}" if asname else f"import {name}"


def statement_key(text: str) -> tuple[int, int, str]:
    """isort's order within the first-party section: plain imports first, then from-imports;
    relative ones last; by module name."""
    words = text.split()
    module = words[1]
    return (module.startswith("."), words[0] == "from", module.lstrip(".").lower())


def is_vtg_import(node: ast.stmt, name: str, files: dict[str, Path]) -> bool:
    if isinstance(node, ast.ImportFrom):
        return graph.absolute(node.module, node.level, name, files).split(".")[0] == "vtg"
    return isinstance(node, ast.Import) and all(a.name.split(".")[0] == "vtg" for a in node.names)


def has_comment(node: ast.stmt, lines: list[str]) -> bool:
    return any("#" in lines[i] for i in range(node.lineno - 1, node.end_lineno or node.lineno))


def rewrite(name: str, text: str, plan: Plan, files: dict[str, Path]) -> str:
    lines = text.splitlines()
    tree = ast.parse(text)
    existing = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    vtg_block = [n for n in existing if is_vtg_import(n, name, files)]
    statements: list[str] = []
    merged_away: list[ast.stmt] = []
    for node in vtg_block:
        if has_comment(node, lines):
            continue
        if isinstance(node, ast.ImportFrom) and module_text(node) in plan.from_names:
            plan.from_names[module_text(node)].update((a.name, a.asname) for a in node.names)
            merged_away.append(node)
        elif isinstance(node, ast.Import) and len(node.names) == 1:
            alias = node.names[0]
            if (alias.name, alias.asname) in plan.plain:
                merged_away.append(node)
    statements += [render_from(m, names) for m, names in plan.from_names.items()]
    statements += [render_plain(n, a) for n, a in plan.plain]
    drop: set[int] = set()
    for stmt in [*plan.delete, *merged_away]:
        drop.update(range(stmt.lineno - 1, stmt.end_lineno or stmt.lineno))
    in_functions = {i for node in plan.delete for i in range(node.lineno - 1, node.end_lineno or node.lineno)}
    contiguous = vtg_block and all(not has_comment(n, lines) for n in vtg_block) and \
        all(not lines[i].strip() or any(n.lineno - 1 <= i < (n.end_lineno or n.lineno) for n in vtg_block)
            for i in range(vtg_block[0].lineno - 1, vtg_block[-1].end_lineno or vtg_block[-1].lineno))
    if contiguous:  # rebuild the whole block, sorted
        first, last = vtg_block[0].lineno - 1, (vtg_block[-1].end_lineno or vtg_block[-1].lineno)
        kept = ["\n".join(lines[n.lineno - 1:n.end_lineno]) for n in vtg_block if n not in merged_away]
        block = sorted(kept + statements, key=statement_key)
        anchor, insert = first, block
        drop.update(range(first, last))
    elif vtg_block:
        anchor, insert = (vtg_block[-1].end_lineno or vtg_block[-1].lineno), sorted(statements, key=statement_key)
    else:
        after = existing[-1] if existing else (tree.body[0] if tree.body and is_docstring(tree.body[0]) else None)
        anchor = (after.end_lineno or after.lineno) if after else 0
        insert = [""] + sorted(statements, key=statement_key)
    out: list[str] = []
    for i, line in enumerate(lines):
        if i == anchor:
            out.extend("\n".join(insert).split("\n"))
        if i in drop:
            continue
        if not line.strip() and i - 1 in in_functions and out and \
                (not out[-1].strip() or out[-1].rstrip().endswith((":", '"""'))):
            continue  # the blank line that separated removed imports from the function's code
        out.append(line)
    if anchor >= len(lines):
        out.extend("\n".join(insert).split("\n"))
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def main(argv: list[str]) -> int:
    check = "--check" in argv
    bounds = graph.Boundaries()
    moved = 0
    kept: list[str] = []
    for name, path in sorted(bounds.files.items()):
        text = path.read_text(encoding="utf-8")
        plan = plan_module(name, ast.parse(text), text.splitlines(), bounds)
        kept += plan.kept
        if not plan.delete:
            continue
        moved += len(plan.delete)
        if not check:
            path.write_text(rewrite(name, text, plan, bounds.files), encoding="utf-8")
    for line in kept:
        print("kept:", line)
    print(f"{'would move' if check else 'moved'} {moved} imports of vtg modules to module top; kept {len(kept)}")
    return 1 if check and moved else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
