"""Write README.md from nbs/index.ipynb with nbconvert (`nbdev_readme` needs quarto).

`--check` writes nothing and fails when README.md differs from what the notebook gives.
"""
import argparse, re, sys
from pathlib import Path

import nbformat
from nbconvert import MarkdownExporter
from nbconvert.preprocessors import Preprocessor

ROOT = Path(__file__).resolve().parent.parent
NB, README = ROOT/'nbs'/'index.ipynb', ROOT/'README.md'
HEADER = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, then run `make readme`. -->\n\n'
DIRECTIVE = re.compile(r'^\s*#\|\s*(\S+)')

class DropDirectives(Preprocessor):
    "Remove `#| hide` cells and the `#|` directive lines of the others."
    def preprocess(self, nb, resources):
        cells = []
        for cell in nb.cells:
            lines = cell.source.splitlines()
            flags = {m.group(1) for l in lines if (m := DIRECTIVE.match(l))} if cell.cell_type == 'code' else set()
            if flags & {'hide', 'exporti'}: continue
            if cell.cell_type == 'code': cell.source = '\n'.join(l for l in lines if not DIRECTIVE.match(l)).strip()
            cells.append(cell)
        nb.cells = cells
        nb.metadata['language_info'] = {'name': 'python'}
        return nb, resources

def render()->str:
    exporter = MarkdownExporter()
    exporter.register_preprocessor(DropDirectives, enabled=True)
    body, _ = exporter.from_notebook_node(nbformat.read(NB, as_version=4))
    body = re.sub(r'\n{3,}', '\n\n', body).strip() + '\n'
    return HEADER + body

def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--check', action='store_true', help='fail if README.md is not current')
    args = p.parse_args()
    text = render()
    if args.check:
        if not README.exists() or README.read_text(encoding='utf-8') != text:
            print("FAIL: README.md is not current with nbs/index.ipynb; run `make readme` and commit README.md")
            return 1
        print("ok: README.md is current with nbs/index.ipynb")
        return 0
    README.write_text(text, encoding='utf-8')
    print(f"wrote {README.relative_to(ROOT)}")
    return 0

if __name__ == '__main__': sys.exit(main())
