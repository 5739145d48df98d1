"""The library's imports flow one way: no module imports itself back through others."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _modules():
    modules = {}
    for path in (ROOT / "ct_keras").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return modules


def _import_graph(modules):
    """`{module: modules it imports}`, lazy (function-level) imports included."""
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ct_keras"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    deps.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("ct_keras"))
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep, stack + [dep])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_library_has_no_import_cycles():
    cycle = _cycle(_import_graph(_modules()))
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("layer", ["tasks", "layers", "losses", "metrics", "data", "models"])
def test_the_lower_layers_never_import_training_deploy_or_tools(layer):
    """STYLE: tasks ← layers ← models ← training/deploy ← tools; data depends on tasks only."""
    upper = ("ct_keras.training", "ct_keras.deploy", "ct_keras.benchmarking", "tools")
    modules = _modules()
    graph = _import_graph(modules)
    prefix = f"ct_keras.{layer}"
    bad = {m: sorted(d for d in deps if d.startswith(upper))
           for m, deps in graph.items() if m == prefix or m.startswith(prefix + ".")}
    assert not any(bad.values()), {m: d for m, d in bad.items() if d}
