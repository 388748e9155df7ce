"""Execute notebooks in place to store their outputs (the docs show them), skipping long cells.

Cells marked `#| slow` or `#| eval: false` are not run and keep the outputs they have, as
`nbdev_test` skips them. Usage: `python tools/run_nbs.py [NOTEBOOK ...]` (default: every notebook).
"""
import re, sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SKIP = re.compile(r'^\s*#\|\s*(slow\b|eval:\s*false)', re.M)

class SkippingClient(NotebookClient):
    "A notebook client that leaves `#| slow` and `#| eval: false` cells unexecuted."
    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type == 'code' and SKIP.search(cell.source): return cell
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

def run(path:Path, timeout:int=1200):
    nb = nbformat.read(path, as_version=4)
    SkippingClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}}).execute()
    nbformat.write(nb, path)

def main(args):
    paths = [Path(a).resolve() for a in args] or sorted((ROOT/'nbs').glob('*.ipynb'))
    for p in paths:
        print(f'running {p.name}', flush=True)
        run(p)
    return 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
