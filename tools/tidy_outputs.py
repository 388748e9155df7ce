"""Tidy stored notebook outputs for the docs: drop progress bars and library advisories, hide temporary paths.

Removed: the saved widget state no output uses, stderr streams and widget displays that hold only progress bars (tqdm, "Loading ...", "Writing model shards")
or advisories from transformers/diffusers/IPython (e.g. "[transformers] ... requires torchvision"); in what remains,
temporary folders (/tmp/..., /var/folders/...) read `$TMP`. `--check` reports what it would change and exits 1 if anything.

    python tools/tidy_outputs.py [--check] [NOTEBOOK ...]     (default: every notebook in nbs/)
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOISE = [re.compile(p) for p in (
    r'^\s*$',
    r'\d+%\|[^\n]*\|',                                           # a tqdm bar
    r'^(Loading|Writing|Fetching|Downloading)[^\n]*:\s*\d+%',
    r'^\[transformers\]', r'^\[diffusers\]',
    r'(FutureWarning|UserWarning|DeprecationWarning): ',
    r'^\s*warnings\.warn\(', r'^\s*(if|return|self|super)\b.*', r'^There are modules in \w+ that should be kept in float32',
    r'^An error occurred while trying to fetch', r'^Kernel is running over TCP',
)]
TMP = re.compile(r'(/tmp|/var/folders/[\w/]+?/T)/[\w.\-]+')

def noise_only(text:str)->bool:
    "Whether every line of a stream is a progress bar, a blank line or a library advisory."
    lines = text.replace('\r', '\n').split('\n')
    return all(any(p.search(l) for p in NOISE) for l in lines)

def tidy_output(o:dict):
    "The output without noise and temporary paths, or None when nothing is left."
    if o.get('output_type') == 'stream':
        text = ''.join(o.get('text', ''))
        if o.get('name') == 'stderr' and noise_only(text): return None
        new = TMP.sub('$TMP', text)
        return o if new == text else {**o, 'text': new.splitlines(keepends=True)}
    data = o.get('data', {})
    if 'application/vnd.jupyter.widget-view+json' in data and noise_only(''.join(data.get('text/plain', ''))): return None
    for k in ('text/plain', 'text/markdown', 'text/html'):
        if k in data:
            text = ''.join(data[k]); new = TMP.sub('$TMP', text)
            if new != text: o = {**o, 'data': {**o['data'], k: new.splitlines(keepends=True)}}
    return o

def tidy(path:Path, write:bool=True)->int:
    "Tidy one notebook in place; returns the number of outputs changed or removed."
    nb = json.loads(path.read_text(encoding='utf-8')); n = 0
    for c in nb['cells']:
        if c['cell_type'] != 'code': continue
        outs = []
        for o in c.get('outputs', []):
            t = tidy_output(o)
            n += t is not o
            if t is not None: outs.append(t)
        c['outputs'] = outs
    if 'widgets' in nb.get('metadata', {}) and 'IPY_MODEL' not in json.dumps([c.get('outputs', []) for c in nb['cells']]):
        del nb['metadata']['widgets']; n += 1         # the saved state of widgets no output shows any more
    if n and write: path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    return n

def main(args)->int:
    check = '--check' in args
    paths = [Path(a) for a in args if a != '--check'] or sorted((ROOT/'nbs').glob('*.ipynb'))
    changed = {p.name: n for p in paths if (n := tidy(p, write=not check))}
    for name, n in changed.items(): print(f"{name}: {n} output{'s' if n > 1 else ''} {'to tidy' if check else 'tidied'}")
    return 1 if check and changed else 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
