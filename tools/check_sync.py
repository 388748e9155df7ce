"""Fail when the notebooks and the library disagree, or when a notebook is not clean.

Runs `nbdev_export` and `nbdev_clean` and reports every file either of them changed. The files are
left as the tools wrote them, so after a failure `git diff` shows what to commit.
"""
import hashlib, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

def snapshot(folder, pattern):
    return {p.relative_to(ROOT): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((ROOT/folder).rglob(pattern))
            if '.ipynb_checkpoints' not in p.parts}

def changed(folder, pattern, cmd):
    before = snapshot(folder, pattern)
    subprocess.run([str(BIN/cmd)], cwd=ROOT, check=True)
    after = snapshot(folder, pattern)
    return sorted(str(p) for p in set(before) | set(after) if before.get(p) != after.get(p))

def main():
    ok = True
    for folder, pattern, cmd, what in [('headstyle', '*.py', 'nbdev_export', 'library modules out of date with their notebooks'),
                                       ('nbs', '*.ipynb', 'nbdev_clean', 'notebooks not clean')]:
        diff = changed(folder, pattern, cmd)
        if diff:
            ok = False
            print(f"FAIL: {what}; `{cmd}` changed: {', '.join(diff)}\n      commit what it wrote (git diff shows it)")
        else: print(f"ok: `{cmd}` leaves {folder}/ unchanged")
    return 0 if ok else 1

if __name__ == '__main__': sys.exit(main())
