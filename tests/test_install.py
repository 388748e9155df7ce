"""The built wheel carries the package and its console script, and imports outside the source tree."""
import os, subprocess, sys, zipfile
import pytest
from conftest import ROOT

@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('wheel')
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(out), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = out.glob('headstyle-*.whl')
    return whl

def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for mod in ['__init__', '_modidx', 'cameras', 'cli']: assert f'headstyle/{mod}.py' in names
    ep = next(n for n in names if n.endswith('entry_points.txt'))
    assert 'headstyle = headstyle.cli:main' in zipfile.ZipFile(wheel).read(ep).decode()
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith('METADATA'))).decode()
    torch_req = [l for l in meta.splitlines() if l.startswith('Requires-Dist: torch')]
    assert torch_req and '<2.14' in torch_req[0]
    assert not any('torchvision' in l for l in meta.splitlines())

def test_wheel_imports_outside_tree(wheel, tmp_path):
    target = tmp_path/'site'
    r = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target', str(target), str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    env = {**os.environ, 'PYTHONPATH': str(target)}
    code = "import headstyle, headstyle.cameras as c; print(headstyle.__file__); print(c.camera_params(0., 0.).shape)"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith(str(target)) and 'torch.Size([1, 25])' in r.stdout
    r = subprocess.run([str(target/'bin'/'headstyle'), '--version'], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0 and r.stdout.startswith('headstyle ')
