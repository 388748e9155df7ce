"""The quarto-free docs site: a page per notebook, and one page checked in headless Chromium."""
import json, re, shutil, subprocess, sys
import pytest
from conftest import ROOT

DOCS = ROOT/'_docs'
CHROME_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--virtual-time-budget=20000']

@pytest.fixture(scope='module')
def docs():
    index = DOCS/'index.html'
    if not index.exists() or any(nb.stat().st_mtime > index.stat().st_mtime for nb in (ROOT/'nbs').glob('*.ipynb')):
        subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py')], check=True, cwd=ROOT, timeout=900)
    return DOCS

def page(nb): return re.sub(r'^\d+[a-z]?_', '', nb.stem) + '.html'

def nb_title(nb):
    first = next(c for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'markdown')
    return re.match(r'#\s+(.+)', ''.join(first['source'])).group(1).strip()

def test_a_page_per_notebook(docs):
    nbs = sorted((ROOT/'nbs').glob('*.ipynb'))
    assert nbs
    for nb in nbs:
        path = docs/page(nb)
        assert path.exists(), f'no docs page for {nb.name}'
        text = path.read_text(encoding='utf-8')
        assert nb_title(nb) in text
        for other in nbs: assert f'href="{page(other)}"' in text   # the sidebar links every page
        assert 'headstyle.github.io' not in text                   # links to the public site are made relative

def chromium():
    exe = next((shutil.which(n) for n in ['chromium', 'chromium-browser', 'google-chrome'] if shutil.which(n)), None)
    if exe is None: pytest.skip('headless Chromium not found: `make test` installs Debian\'s chromium with apt where it can')
    return exe

def test_cameras_page_renders(docs, tmp_path):
    exe, page = chromium(), (docs/'cameras.html').as_uri()
    dom = subprocess.run([exe, *CHROME_FLAGS, f'--user-data-dir={tmp_path/"profile"}', '--dump-dom', page],
                         capture_output=True, text=True, timeout=180).stdout
    assert re.search(r'<h1[^>]*>\s*Cameras', dom), 'page title missing'
    assert dom.count('class="MathJax"') >= 10, 'formulas were not typeset'
    assert 'class="MathJax_Error"' not in dom, 'a formula failed to typeset'
    assert 'main-svg' in dom, 'the plotly figure was not drawn'
    assert re.search(r'<img[^>]+src="data:image/png', dom), 'matplotlib figures missing'

def test_cameras_page_screenshot(docs, tmp_path):
    from PIL import Image
    exe, shot = chromium(), DOCS/'screenshot-cameras.png'
    subprocess.run([exe, *CHROME_FLAGS, f'--user-data-dir={tmp_path/"profile"}', '--window-size=1280,1600',
                    f'--screenshot={shot}', (docs/'cameras.html').as_uri()], capture_output=True, timeout=180)
    im = Image.open(shot).convert('L')
    assert im.size == (1280, 1600)
    lo, hi = im.getextrema()
    assert hi - lo > 100, 'blank screenshot'
    dark = sum(im.histogram()[:128]) / (im.size[0] * im.size[1])
    assert 0.005 < dark < 0.5, f'screenshot looks wrong: {dark:.3f} of the pixels are dark'

def test_one_quarto_config():
    "nbdev reads nbs/_quarto.yml; it is the top-level _quarto.yml."
    assert (ROOT/'nbs'/'_quarto.yml').resolve() == (ROOT/'_quarto.yml').resolve()

def test_stored_outputs_are_tidy():
    "No progress bars, library advisories or temporary paths in the outputs the docs show (`python tools/tidy_outputs.py` fixes them)."
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'tidy_outputs.py'), '--check'], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout

@pytest.mark.parametrize('name, needs', [('index.html', ['<table', '17_experiments']), ('viewers.html', ['main-svg'])])
def test_index_and_a_viewer_page_render(docs, tmp_path, name, needs):
    "The landing page (its notebook table) and a page of interactive plotly viewers, drawn in headless Chromium, with a screenshot."
    from PIL import Image
    exe, shot = chromium(), DOCS/f'screenshot-{name[:-5]}.png'
    dom = subprocess.run([exe, *CHROME_FLAGS, f'--user-data-dir={tmp_path/"profile"}', '--dump-dom', (docs/name).as_uri()],
                         capture_output=True, text=True, timeout=180).stdout
    assert re.search(r'<h1[^>]*>', dom), f'{name}: no title'
    for n in needs: assert n in dom, f'{name}: {n} missing from the rendered page'
    subprocess.run([exe, *CHROME_FLAGS, f'--user-data-dir={tmp_path/"profile2"}', '--window-size=1280,1600',
                    f'--screenshot={shot}', (docs/name).as_uri()], capture_output=True, timeout=180)
    im = Image.open(shot).convert('L')
    lo, hi = im.getextrema()
    assert im.size == (1280, 1600) and hi - lo > 100, f'{name}: blank screenshot'

def test_index_of_functions(docs):
    "Every exported function and class is listed with its description and a link to a page that exists."
    text = (docs/'api.html').read_text(encoding='utf-8')
    links = re.findall(r'<li><a href="([^"#]+)(?:#[^"]*)?"><code>([^<]+)</code></a> ([^<]*)</li>', text)
    names = {n for _, n, _ in links}
    assert {'Stylizer', 'Stylizer.step', 'evaluate_runs', 'load_prior', 'train_prior', 'toy_scores'} <= names
    assert all((docs/href).exists() for href, _, _ in links), sorted({h for h, _, _ in links if not (docs/h).exists()})
    assert dict((n, d) for _, n, d in links)['head_numbers'].startswith('ID kept, diversity left')
    assert 'id="hs-q"' in text and 'href="api.html"' in (docs/'index.html').read_text(encoding='utf-8')
