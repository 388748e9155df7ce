"""Wall time of every baseline's TinyHeads default, from the command line, against the full method's in the same run.

Each system runs exactly as `headstyle experiments table` runs it (its default length, 8 identities for the
per-identity editors), in a fresh process with the threads given; the ratio to the full method's time
(measured in the same run, on the same machine) is what carries across machines.

    python benchmarks/baselines_time.py [--threads 2] [--out benchmarks/results/baselines_time.json]
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--systems', nargs='+', default=None, help='default: every system of the table')
    ap.add_argument('--out', default='benchmarks/results/baselines_time.json')
    a = ap.parse_args()
    from headstyle.experiments import Run, SYSTEMS
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for system in a.systems or ['ours', *[s for s in SYSTEMS if s != 'ours']]:
            argv = Run('table', system, 'werewolf', 0).argv(Path(tmp)/system)
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, '-c', 'from headstyle.cli import main; raise SystemExit(main())', *argv],
                               env=env, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if r.returncode: raise SystemExit(f"{system} failed: {r.stderr[-500:]}")
            rows[system] = dict(seconds=round(dt, 1), command='headstyle ' + ' '.join(argv).replace(tmp + '/', ''))
            print(f"{system:>16}: {dt:7.1f} s", flush=True)
    ref = rows.get('ours', {}).get('seconds')
    for k, v in rows.items():
        if ref: v['ratio_to_ours'] = round(v['seconds'] / ref, 3)
    res = dict(threads=a.threads, machine=platform.processor() or platform.machine(), cpus=os.cpu_count(), systems=rows)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))

if __name__ == '__main__': main()
