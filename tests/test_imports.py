"The package's layers read one way: no module imports another that imports it back (imports inside functions count), and no library module imports the command line."
import ast, warnings
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent/'headstyle'
COMMANDS = {'cli'}   # the entry point: it may import every module; none may import it

def imports(path:Path)->set[str]:
    "The headstyle modules a file imports, wherever the import statement stands (module level, functions, branches)."
    out = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # a docstring's backslash is not this test's business
        tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith('headstyle.')}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ''
            if node.level == 1: names = [mod.split('.')[0]] if mod else [a.name for a in node.names]
            elif mod == 'headstyle': names = [a.name for a in node.names]
            elif mod.startswith('headstyle.'): names = [mod.split('.')[1]]
            else: names = []
            out |= {n for n in names if (PKG/f'{n}.py').exists()}
    return out - {path.stem}

def graph()->dict:
    return {p.stem: imports(p) for p in PKG.glob('*.py') if p.stem not in ('_modidx', '__init__')}

def cycles(g:dict)->list[list[str]]:
    "Every import circle, found by depth-first search (each reported once, from its smallest module name)."
    found, seen = [], set()
    def visit(node, path):
        for nxt in sorted(g.get(node, ())):
            if nxt in path:
                c = path[path.index(nxt):]
                key = frozenset(c)
                if key not in seen: seen.add(key); found.append(c + [nxt])
            elif len(path) < len(g): visit(nxt, path + [nxt])
    for n in sorted(g): visit(n, [n])
    return found

def test_cycle_finder_finds_cycles():
    "The finder itself: a hand-made graph with one circle of three and one of two, and a clean one."
    got = cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'e'}, 'e': {'d'}, 'f': {'a'}})
    assert sorted(frozenset(c) for c in got) == sorted([frozenset('abc'), frozenset('de')]), got
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': set()}) == []

def test_imports_are_read_everywhere(tmp_path):
    "An import inside a function, a relative import and a `from headstyle import x` all count."
    f = tmp_path/'m.py'
    f.write_text("from .world import STYLES\ndef f():\n    from headstyle.metrics import kid\n    import headstyle.prior\nfrom headstyle import stats\n")
    assert imports(f) == {'world', 'metrics', 'prior', 'stats'}

def test_no_import_circles():
    c = cycles(graph())
    assert not c, 'import circles: ' + '; '.join(' -> '.join(x) for x in c)

def test_library_never_imports_the_cli():
    bad = sorted(m for m, deps in graph().items() if deps & COMMANDS and m not in COMMANDS)
    assert not bad, f"these modules import headstyle.cli: {', '.join(bad)}; take what they need from a lower module"
