"""The shape of the package (issue 15): modules a reader can hold, no import circle."""

import ast
from pathlib import Path

import linrfm

SRC = Path(linrfm.__file__).parent
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 100  # docstring aside


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        parts = ("linrfm",) + path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path, ast.parse(path.read_text())


def test_no_module_or_function_is_too_long():
    long = []
    for name, path, tree in _modules():
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES:
            long.append(f"{name}: {n} lines")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                first = node.body[0]
                if ast.get_docstring(node) is not None:
                    n -= first.end_lineno - first.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert not long, long


def _top_level_imports(name, path, tree, known):
    """The package's modules that ``name`` imports when it is loaded (imports inside
    functions run later and make no circle at load time)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def test_no_import_circle_between_modules():
    mods = list(_modules())
    known = {name for name, _, _ in mods}
    graph = {name: _top_level_imports(name, path, tree, known) for name, path, tree in mods}
    # a package importing its own submodules (its __init__) is how packages are built;
    # a circle between two modules that are not each other's package is a defect
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    circles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, circles
