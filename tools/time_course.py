"""Time each notebook's fast path the way a learner (and CI) runs it: `nbdev_test --path NB`, one at a time.

Writes `benchmarks/results/course_time.json`: seconds per notebook, whether it passed, the total, the
threads and the machine. The index page's course table quotes it. The notebooks share one fresh cache
folder (HEADSTYLE_CACHE), as on a first run-through on a new machine: what one notebook keeps (TinyHeads'
true renders), later ones read back.

    python tools/time_course.py [--threads 1] [--out benchmarks/results/course_time.json] [NOTEBOOK ...]

Timing some notebooks again (NOTEBOOK ...) replaces their rows in an existing file of the same thread count.
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('notebooks', nargs='*', help='default: every notebook in nbs/')
    ap.add_argument('--threads', type=int, default=1, help='OMP_NUM_THREADS of each run (CI runs two notebooks at once, one thread each)')
    ap.add_argument('--out', default=str(ROOT/'benchmarks'/'results'/'course_time.json'))
    a = ap.parse_args()
    nbs = [Path(p) if Path(p).is_file() else ROOT/'nbs'/(Path(p).stem + '.ipynb') for p in a.notebooks] or sorted((ROOT/'nbs').glob('[0-9]*.ipynb'))
    if missing := [str(p) for p in nbs if not p.is_file()]: ap.error(f"no such notebook: {', '.join(missing)} (give a path, or a name in nbs/ such as 17_experiments)")
    bin_dir = Path(sys.executable).parent
    cache_dir = tempfile.TemporaryDirectory(prefix='headstyle-cache-'); cache = cache_dir.name   # removed when the timing ends
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), HEADSTYLE_CACHE=cache)
    old = json.loads(Path(a.out).read_text()) if a.notebooks and Path(a.out).exists() else None
    rows = dict(old['notebooks']) if old and old.get('threads') == a.threads else {}   # timing some notebooks again keeps the others' rows
    for nb in nbs:
        t0 = time.perf_counter()
        r = subprocess.run([str(bin_dir/'nbdev_test'), '--path', str(nb)], cwd=ROOT, env=env, capture_output=True, text=True)
        rows[nb.stem] = dict(seconds=round(time.perf_counter() - t0, 1), passed=r.returncode == 0)
        print(f"{nb.stem:28s} {rows[nb.stem]['seconds']:7.1f} s {'ok' if r.returncode == 0 else 'FAILED'}", flush=True)
    res = dict(threads=a.threads, machine=platform.processor() or platform.machine(), cpus=os.cpu_count(),
               total_s=round(sum(r['seconds'] for r in rows.values()), 1), notebooks=rows,
               command='python tools/time_course.py --threads ' + str(a.threads))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(f"total {res['total_s']:.0f} s")
    return 0 if all(r['passed'] for r in rows.values()) else 1

if __name__ == '__main__': sys.exit(main())
