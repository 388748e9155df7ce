"""Wall time and peak memory of `headstyle demo`, and its result, from the installed command.

Runs `headstyle demo` with its defaults `--repeats` times (a fresh output folder each time, so nothing is
resumed) and once more for each extra prompt/seed pair, one after another, and records each run's wall
time, peak resident memory (the largest of its processes) and the numbers it wrote to metrics.json.
Nothing else should run on the machine meanwhile: the demo trains its two runs on two cores at once.
The runs share a fresh cache folder (HEADSTYLE_CACHE), as on a fresh install: the first run of each style
renders TinyHeads' reference set and keeps it, later runs read it back; each run records which it did.

The pairs (the defaults and each extra prompt/seed) are then compared as `full` minus `sds` per pair, with the
paired Student-t interval and p-value of `headstyle.stats.paired_difference` (`comparison` in the JSON). With three
pairs the interval is wide: it says how little three pairs can tell.

    python benchmarks/demo_time.py [--repeats 3] [--pairs "a werewolf:1" "a pixar character:2"] [--out benchmarks/results/demo_time.json]
    python benchmarks/demo_time.py --summarize-only     # recompute `pairs` of an existing results file, no demo run
"""
import argparse, json, os, platform, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

def tree_rss(pid:int)->int:
    "Resident bytes of a process and all its descendants (Linux /proc)."
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += int(next(l for l in open(f'/proc/{p}/status') if l.startswith('VmRSS')).split()[1]) * 1024
            for t in os.listdir(f'/proc/{p}/task'): todo += [int(c) for c in open(f'/proc/{p}/task/{t}/children').read().split()]
        except (OSError, StopIteration): pass
    return total

def run_demo(folder:Path, prompt:str|None=None, seed:int|None=None, cache:Path|None=None)->dict:
    "One `headstyle demo` in a fresh process: wall seconds, peak RSS of its process tree (sampled) and its metrics."
    argv = [shutil.which('headstyle') or 'headstyle', 'demo', '--out', str(folder)]
    if prompt is not None: argv += ['--prompt', prompt, '--seed', str(seed)]
    env = dict(os.environ, **({'HEADSTYLE_CACHE': str(cache)} if cache else {}))
    cached = set(cache.rglob('*.safetensors')) if cache and cache.exists() else set()
    t0, peak = time.perf_counter(), 0
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    import threading
    out = {}
    th = threading.Thread(target=lambda: out.update(zip(('stdout', 'stderr'), p.communicate())), daemon=True); th.start()
    while p.poll() is None: peak = max(peak, tree_rss(p.pid)); time.sleep(0.5)
    th.join(); wall = time.perf_counter() - t0
    if p.returncode: raise SystemExit(f"headstyle demo failed ({p.returncode}): {out.get('stderr', '')[-500:]}")
    m = json.loads((folder/'metrics.json').read_text())
    keep = {k: {f: round(v, 4) for f, v in m[k].items() if f in KEPT and v is not None} for k in ['original', *m['settings']['methods']]}
    rendered = bool(cache) and bool(set(cache.rglob('*.safetensors')) - cached)
    return dict(command=' '.join(['headstyle', *argv[1:]]).replace(str(folder), 'OUT'), wall_s=round(wall, 1),
                reference='rendered' if rendered or not cache else 'read from the cache',
                peak_rss_gb=round(peak / 2**30, 2), results=keep,
                differences=sorted(m['settings'].get('differences', {})),    # the settings in which the two runs differ
                full_keeps_more_identity=keep['full']['id'] > keep['sds']['id'],
                full_more_diverse=keep['full']['diversity'] > keep['sds']['diversity'],
                style_ok=min(keep['full']['style'], keep['sds']['style']) >= 0.8)

KEPT = ('id', 'id_other', 'id_cross', 'retrieval', 'diversity', 'style', 'seconds')   # the numbers of each method kept per run

def pairs_summary(runs:list, # `run_demo` records; the first of each command counts as its pair's
                 )->dict: # pairs, method, and full_minus_sds_<id|diversity|style>: mean, ci, sd, n, level, p
    "full minus sds over the distinct prompt/seed pairs (each pair's first run): paired mean difference, 95% interval, p, n."
    from headstyle.stats import paired_difference, INTERVAL
    first = {}
    for r in runs: first.setdefault(r['command'], r['results'])   # the repeats of the defaults are the same pair
    out = dict(pairs=list(first), method='paired Student t over the prompt/seed pairs: ' + INTERVAL.replace('seeds', 'pairs'))
    for f in ('id', 'diversity', 'style'):
        d = paired_difference([x['full'][f] for x in first.values()], [x['sds'][f] for x in first.values()])
        out[f'full_minus_sds_{f}'] = {k: (list(v) if k == 'ci' else v) for k, v in d.items()}
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--pairs', nargs='*', default=['a werewolf:1', 'a pixar character:2'], help='PROMPT:SEED, run once each')
    ap.add_argument('--out', default='benchmarks/results/demo_time.json')
    ap.add_argument('--summarize-only', action='store_true', help='recompute the pair comparison of an existing --out file; run nothing')
    a = ap.parse_args()
    if a.summarize_only:
        res = json.loads(Path(a.out).read_text()); res['comparison'] = pairs_summary(res['runs'])
        Path(a.out).write_text(json.dumps(res, indent=1)); print(json.dumps(res['comparison'], indent=1)); return
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeats):
            runs.append(run_demo(Path(tmp)/f'default{i}', cache=Path(tmp)/'cache')); print(json.dumps(runs[-1]), flush=True)
        for pair in a.pairs:
            prompt, seed = pair.rsplit(':', 1)
            runs.append(run_demo(Path(tmp)/f'pair{len(runs)}', prompt, int(seed), Path(tmp)/'cache')); print(json.dumps(runs[-1]), flush=True)
    walls = [r['wall_s'] for r in runs[:a.repeats]]
    res = dict(machine=platform.processor() or platform.machine(), cpus=os.cpu_count(), python=sys.version.split()[0],
               median_wall_s=statistics.median(walls) if walls else None, runs=runs, comparison=pairs_summary(runs),
               command='python benchmarks/demo_time.py ' + ' '.join([f'--repeats {a.repeats}', '--pairs', *[f'"{p}"' for p in a.pairs]]))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(f"median wall of {a.repeats} default demos: {res['median_wall_s']} s")

if __name__ == '__main__': main()
