"""Check seqlab's import graph: no circle, no arrow back up the stack of wings, no re-export, a small top.

    python scripts/check_imports.py            # exit 1 and every finding, or a one-line summary

Every import of a seqlab module counts, wherever it stands (module level, inside a function, under
``TYPE_CHECKING``): a lazy import is still an arrow. Only the standard library is used, so CI runs it
before anything is installed.

The rules:
1. **No circle** between modules (Tarjan's strongly connected components over the module graph).
2. **No arrow up.** Each wing (a subpackage, or a module at the package top) has a rank in ``LAYERS``, from
   the ground up; a module imports its own wing or a lower one only. A wing missing from ``LAYERS`` is a
   finding too: a new wing must say where it stands.
3. **Names from where they are defined.** ``from seqlab.x import name`` (in the package and in every caller:
   jobs, benchmarks, scripts, tests) needs ``name`` defined at the top of ``seqlab.x`` (def, class,
   assignment) or to be a submodule of it; a name ``seqlab.x`` only imports is a re-export. ``__all__`` may
   list only names its module defines.
4. **A small top**: at most ``MAX_TOP_MODULES`` modules directly in the package (``__init__.py`` counted).
5. **Every wing says what it is**: each subpackage's ``__init__.py`` opens with a docstring.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "seqlab"
#: the wings from the ground up; a module may import its own wing or one on an earlier line
LAYERS: tuple[str, ...] = (
    "errors",      # SeqlabError and its kinds
    "config",      # shared config parts, reading YAML and overrides
    "checkpoint",  # the checkpoint file: written by training, logged by tracking, loaded by serve
    "runtime",     # process plumbing: Ray connection, signals, helper threads, the console
    "data",        # readers, cleaning, vectorizing, windows
    "models",      # nn.Modules
    "tasks",       # the Task interface, the two tasks, the registry and config validation
    "tracking",    # MLflow: runs, registry, pyfunc model, sweep reports
    "serve",       # Ray Serve apps (never training code)
    "training",    # Ray Train driver, worker loop, resume, optimizers
    "sweeps",      # Ray Tune sweeps
    "describe",    # seqlab data describe
    "pipeline",    # data -> train/sweep -> promote -> deploy
    "cli",         # the only argv parser
)
MAX_TOP_MODULES = 8
CALLER_DIRS = ("jobs", "benchmarks", "scripts", "tests", "examples")


@dataclass
class Report:
    modules: int = 0
    arrows: int = 0
    top_modules: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


def module_name(path: Path, package_dir: Path) -> str:
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_statements(body: Sequence[ast.stmt]) -> Iterable[ast.stmt]:
    """Statements at a module's top, looking inside ``if``/``try`` blocks (conditional definitions)."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            yield from _top_level_statements(node.body)
            yield from _top_level_statements(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                yield from _top_level_statements(block)


def defined_names(tree: ast.Module) -> set[str]:
    """Names a module defines itself (functions, classes, assignments); imported names are not counted."""
    out: set[str] = set()
    for node in _top_level_statements(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Assign):
            out.update(n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
    return out


def _all_names(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            if isinstance(node.value, (ast.List, ast.Tuple)):
                return [e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(tree: ast.Module, importer: str, is_package: bool) -> list[tuple[int, str, list[str]]]:
    """Every ``import``/``from ... import`` of the package in a file: (line, module, names)."""
    out: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name, []) for a in node.names
                       if a.name == PACKAGE or a.name.startswith(PACKAGE + "."))
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, importer, is_package)
            if module == PACKAGE or module.startswith(PACKAGE + "."):
                out.append((node.lineno, module, [a.name for a in node.names]))
    return out


def wing(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def check(package_dir: Path, caller_files: Iterable[Path] = (), layers: Sequence[str] = LAYERS,
          max_top: int = MAX_TOP_MODULES) -> Report:
    """Read the package (and callers' imports of it) and list every finding of the rules above."""
    report = Report()
    files = {module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))}
    trees = {m: ast.parse(p.read_text(), str(p)) for m, p in files.items()}
    defined = {m: defined_names(t) for m, t in trees.items()}
    rank = {name: i for i, name in enumerate(layers)}
    graph: dict[str, set[str]] = {m: set() for m in files}

    def target(module: str, name: str | None) -> str | None:
        """The module an import reaches (a submodule when ``name`` is one), or None if it is not ours."""
        if name is not None and f"{module}.{name}" in files:
            return f"{module}.{name}"
        return module if module in files else None

    def check_from(where: str, module: str, names: list[str]) -> None:
        if module not in files:
            report.findings.append(f"{where}: imports {module}, which does not exist")
            return
        for name in names:
            if name != "*" and f"{module}.{name}" not in files and name not in defined[module]:
                report.findings.append(
                    f"{where}: imports {name!r} from {module}, which does not define it (a re-export): "
                    f"import it from where it is defined")

    for module, tree in trees.items():
        path = files[module]
        rel = path.relative_to(package_dir.parent.parent) if package_dir.parent.parent in path.parents else path
        is_package = path.name == "__init__.py"
        for lineno, imported, names in imports_of(tree, module, is_package):
            where = f"{rel}:{lineno}"
            targets = [target(imported, n) for n in names] if names else [target(imported, None)]
            if names:
                check_from(where, imported, names)
            for t in targets:
                if t is None or t == module:
                    continue
                graph[module].add(t)
                src_wing, dst_wing = wing(module), wing(t)
                for w in (src_wing, dst_wing):
                    if w not in rank and w != PACKAGE:
                        report.findings.append(f"{where}: wing {w!r} has no place in LAYERS; add it")
                if src_wing in rank and dst_wing in rank and rank[dst_wing] > rank[src_wing]:
                    report.findings.append(
                        f"{where}: arrow up: {module} ({src_wing}) imports {t} ({dst_wing}), a higher wing")
        for name in _all_names(tree):
            if name not in defined[module] and f"{module}.{name}" not in files:
                report.findings.append(f"{rel}: __all__ lists {name!r}, which {module} does not define")
        if is_package and module != PACKAGE.split(".")[0] and ast.get_docstring(tree) is None:
            report.findings.append(f"{rel}: wing {module} has no docstring (what it owns, what it may import)")

    for component in circles(graph):
        report.findings.append("import circle: " + " -> ".join(component))
    for caller in caller_files:
        tree = ast.parse(caller.read_text(), str(caller))
        for lineno, imported, names in imports_of(tree, "", False):
            where = f"{caller.relative_to(ROOT) if ROOT in caller.parents else caller}:{lineno}"
            if names:
                check_from(where, imported, names)
            elif imported not in files:
                report.findings.append(f"{where}: imports {imported}, which does not exist")

    report.top_modules = sorted(p.name for p in package_dir.glob("*.py"))
    if len(report.top_modules) > max_top:
        report.findings.append(f"{len(report.top_modules)} modules at the package top ({', '.join(report.top_modules)}); "
                               f"at most {max_top}: move some into a wing")
    report.modules = len(files)
    report.arrows = sum(len(v) for v in graph.values())
    return report


def caller_files(root: Path = ROOT) -> list[Path]:
    return sorted(p for d in CALLER_DIRS for p in (root / d).rglob("*.py") if ".venv" not in p.parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--package", type=Path, default=ROOT / "platform" / PACKAGE)
    args = parser.parse_args(argv)
    report = check(args.package, caller_files())
    for line in report.findings:
        print(line)
    print(f"seqlab import graph: {report.modules} modules, {report.arrows} arrows, "
          f"{len(report.top_modules)} at the package top; {len(report.findings)} findings")
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
