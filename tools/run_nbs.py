"""Execute notebooks in place to store their outputs (the docs show them), skipping long cells.

Cells marked `#| slow` or `#| eval: false` are not run and keep the outputs they have, as
`nbdev_test` skips them, unless `--slow` is given (then every cell runs and stores its outputs).
Usage: `python tools/run_nbs.py [--slow] [NOTEBOOK ...]` (default: every notebook).
"""
import re, sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SKIP = re.compile(r'^\s*#\|\s*(slow\b|eval:\s*false)', re.M)

class SkippingClient(NotebookClient):
    "A notebook client that leaves `#| slow` and `#| eval: false` cells unexecuted (with `run_slow`, only the latter)."
    run_slow = False
    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        m = SKIP.search(cell.source) if cell.cell_type == 'code' else None
        if m and not (self.run_slow and m.group(1) == 'slow'): return cell
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

def run(path:Path, timeout:int=1200, slow:bool=False):
    nb = nbformat.read(path, as_version=4)
    client = SkippingClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}})
    client.run_slow = slow
    client.execute()
    nbformat.write(nb, path)

def main(args):
    slow = '--slow' in args
    paths = [Path(a).resolve() for a in args if a != '--slow'] or sorted((ROOT/'nbs').glob('*.ipynb'))
    for p in paths:
        print(f'running {p.name}' + (' (with slow cells)' if slow else ''), flush=True)
        run(p, slow=slow)
    return 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
