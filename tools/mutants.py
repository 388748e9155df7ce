"""Apply one-line wiring mistakes to a copy of `headstyle/stylize.py` and check that the tests catch each of them.

    python tools/mutants.py [--tests tests/test_wiring.py tests/test_stylize.py]

Each mutant is a copy of the package with one line changed; the tests run against it (the copy comes first on
PYTHONPATH). Exit code 0 when the unchanged code passes and every mutant fails at least one test."""
import argparse, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = {   # name -> (exact text in headstyle/stylize.py, replacement)
    'single-view mask dropped': ("mask = f['image_mask'] if c.mask_grad else None", "mask = None"),
    'grid mask dropped': ("mask = to_grid(up(f['image_mask'])) if c.mask_grad else None", "mask = None"),
    'Canny on the trainable render': ("canny(f['image'], c.canny_low", "canny(r['image'][:B], c.canny_low"),
    'depth control from the trainable render': ("depth_control(f['image_depth'], f['image_mask'])",
                                                "depth_control(r['image_depth'], r['image_mask'])"),
    'rank weighting off while on': ("if _finite(s) else s) if c.rank_weighting else None",
                                    "if _finite(s) else s) if False else None"),
    'mirror view at the base camera': ("cams = mirror_batch(cam) if c.mirror else cam",
                                       "cams = torch.cat([cam, cam]) if c.mirror else cam"),
    'mirror weights swapped': ("mirror_loss(out, latents[B:], mask, c.mirror_weights, tf)",
                               "mirror_loss(out, latents[B:], mask, c.mirror_weights[::-1], tf)"),
    'grid poses from the single-view ranges': ("sample_cameras(4 * B, c.grid_yaw, c.grid_pitch",
                                               "sample_cameras(4 * B, c.single_yaw, c.single_pitch"),
    'grid rendered from the frozen tri-planes': ("r = self.render(w4, cam, **_kw(planes, 0, four),", "r = self.render(w4, cam, **_kw(planes, 1, four),"),
    'mirror view from the frozen tri-planes': ("cams, **_kw(planes, 0, lambda p: torch.cat([p] * k)))", "cams, **_kw(planes, 0, lambda p: torch.cat([p, planes[1]][:k])))"),
    'one grid pose repeated four times': ("cam = sample_cameras(4 * B, c.grid_yaw, c.grid_pitch, generator=self.rng).to(ws.device)",
                                          "cam = sample_cameras(B, c.grid_yaw, c.grid_pitch, generator=self.rng).repeat_interleave(4, 0).to(ws.device)"),
}

def run_tests(pkg_root:Path, tests:list)->tuple[bool, list]:
    "Whether the tests pass with the package found first at `pkg_root`, and the failing tests."
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(pkg_root), str(ROOT / 'tests')]), OMP_NUM_THREADS='1')
    r = subprocess.run([sys.executable, '-c', 'import sys, pytest; sys.exit(pytest.main(sys.argv[1:]))',   # not -m: it puts cwd first
                        '-x', '-q', '-p', 'no:cacheprovider', *[str(ROOT / t) for t in tests]],
                       cwd=pkg_root, env=env, capture_output=True, text=True)
    return r.returncode == 0, [l.split()[1].split('::')[-1] for l in r.stdout.splitlines() if l.startswith(('FAILED', 'ERROR'))]

def main(argv=None)->int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--tests', nargs='+', default=['tests/test_wiring.py', 'tests/test_stylize.py::test_shared_planes_and_backward_per_view_give_the_same_update'], help='test files to run against each mutant')
    args = p.parse_args(argv)
    src = (ROOT / 'headstyle' / 'stylize.py').read_text()
    missing = [n for n, (old, _) in MUTANTS.items() if src.count(old) != 1]
    if missing:
        print(f"mutants: the code no longer has exactly one place for: {', '.join(missing)}; update MUTANTS", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        pkg = Path(tmp) / 'headstyle'
        shutil.copytree(ROOT / 'headstyle', pkg, ignore=shutil.ignore_patterns('assets', '__pycache__'))
        (pkg / 'assets').symlink_to(ROOT / 'headstyle' / 'assets')
        t = time.time()
        probe = subprocess.run([sys.executable, '-c', 'import headstyle; print(headstyle.__file__)'], cwd=tmp,
                               env=dict(os.environ, PYTHONPATH=tmp), capture_output=True, text=True).stdout.strip()
        if Path(probe).parent != pkg: print(f"mutants: the copy is not imported (got {probe})", file=sys.stderr); return 1
        if not run_tests(Path(tmp), args.tests)[0]:
            print("mutants: the tests fail on the unchanged code", file=sys.stderr); return 1
        print(f"unchanged code: tests pass ({time.time() - t:.0f} s)")
        caught = 0
        for name, (old, new) in MUTANTS.items():
            (pkg / 'stylize.py').write_text(src.replace(old, new))
            passed, failed = run_tests(Path(tmp), args.tests)
            caught += not passed
            print(f"{'MISSED' if passed else 'caught'}  {name:42s} {', '.join(failed)}")
    print(f"{caught} of {len(MUTANTS)} mutants caught")
    return 0 if caught == len(MUTANTS) else 1

if __name__ == '__main__': sys.exit(main())
