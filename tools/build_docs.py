"""Build the documentation site into _docs/ without quarto.

`nbdev_proc_nbs`'s processing runs first, as `nbdev_docs` would run it (show_doc cells, front matter,
directives; called in-process so that nbdev does not try to download and install quarto); each processed notebook is then converted to HTML with nbconvert, with a sidebar
linking every page, MathJax and plotly.js served from local copies (the site works offline).
Fails (exit 1) when any notebook fails to convert. Where quarto is installed, `nbdev_docs` builds
the full nbdev site from the same `_quarto.yml`.
"""
import html, json, re, shutil, sys, uuid
from pathlib import Path

import nbformat, yaml
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
PROC, OUT = ROOT/'_proc', ROOT/'_docs'
DIRECTIVE = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*)$')

def directives(src:str)->tuple[dict, str]:
    "Split quarto/nbdev `#|` directives from a code cell's source."
    flags, body = {}, []
    for line in src.splitlines():
        m = DIRECTIVE.match(line)
        if m and not body: flags[m.group(1)] = m.group(2).strip() or True
        else: body.append(line)
    return flags, '\n'.join(body).strip()

def plotly_html(fig:dict)->str:
    "A div and script drawing a plotly figure spec with the page's local plotly.js."
    div = f'plotly-{uuid.uuid4().hex[:12]}'
    spec = json.dumps({'data': fig.get('data', []), 'layout': fig.get('layout', {}), 'config': {'responsive': True}})
    return (f'<div id="{div}" class="plotly-graph-div" style="height:{fig.get("layout", {}).get("height", 500)}px;"></div>'
            f'<script>(function(){{var s={spec};Plotly.newPlot("{div}",s.data,s.layout,s.config);}})();</script>')

def prepare(nb)->tuple[str, str]:
    "Turn a processed notebook into plain cells nbconvert renders; returns (title, description)."
    title, desc, cells = '', '', []
    for cell in nb.cells:
        if cell.cell_type == 'raw' and cell.source.startswith('---'):
            meta = yaml.safe_load(cell.source.strip().strip('-')) or {}
            title, desc = meta.get('title', ''), meta.get('description', '')
            cells.append(nbformat.v4.new_markdown_cell(f'# {title}\n\n' + (f'<p class="description">{html.escape(desc)}</p>' if desc else '')))
            continue
        if cell.cell_type == 'code':
            flags, cell.source = directives(cell.source)
            if flags.get('include') == 'false' or 'hide' in flags: continue
            if flags.get('output') == 'asis':   # show_doc and similar: their markdown output is the content
                md = '\n'.join(''.join(o.get('data', {}).get('text/markdown', '')) for o in cell.get('outputs', []))
                md = QUARTO_ATTRS.sub(')', md).replace('[source](', '[source ↗](')
                if md.strip(): cells.append(nbformat.v4.new_markdown_cell(md))
                continue
            if flags.get('echo') == 'false': cell.metadata['transient'] = {'remove_source': True}
            for o in cell.get('outputs', []):
                data = o.get('data', {})
                if 'application/vnd.jupyter.widget-view+json' in data:
                    o['data'] = {'text/html': '<p class="widget-note"><em>Interactive controls: run this notebook in Jupyter to use them.</em></p>'}
                elif 'application/vnd.plotly.v1+json' in data:
                    o['data'] = {'text/html': plotly_html(data['application/vnd.plotly.v1+json'])}
        cells.append(cell)
    nb.cells = cells
    nb.metadata['language_info'] = {'name': 'python'}
    return title, desc

# the MathJax copy shipped by jupyter-server-mathjax has only the STIX-Web fonts
MATHJAX_FONTS = ('<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": {availableFonts: ["STIX-Web"], '
                 'preferredFont: "STIX-Web", webFont: "STIX-Web", imageFont: null}});</script>')
QUARTO_ATTRS = re.compile(r'\)\{target="_blank" style="float:right; font-size:smaller"\}')

PAGE_CSS = """
<style>
 body { margin: 0; }
 #hs-sidebar { position: fixed; top: 0; left: 0; bottom: 0; width: 15rem; overflow-y: auto; padding: 1rem;
   background: #f5f6f8; border-right: 1px solid #ddd; font-family: system-ui, sans-serif; font-size: 0.95rem; }
 #hs-sidebar h2 { font-size: 1.2rem; margin: 0 0 1rem 0; } #hs-sidebar h2 a { color: #222; text-decoration: none; }
 #hs-sidebar a.page { display: block; padding: 0.25rem 0.4rem; color: #2a5db0; text-decoration: none; border-radius: 4px; }
 #hs-sidebar a.page.active { background: #dfe7f5; font-weight: 600; }
 #hs-main { margin-left: 17rem; max-width: 60rem; padding: 1rem 2rem; }
 p.description { font-style: italic; font-size: 125%; opacity: 0.75; }
</style>
"""

def site_title()->str:
    "The site's title from the top-level _quarto.yml (the file nbs/_quarto.yml links to)."
    return (yaml.safe_load((ROOT/'_quarto.yml').read_text()) or {}).get('website', {}).get('title', 'headstyle')

def sidebar(pages:list, active:str, site:str)->str:
    links = ''.join(f'<a class="page{" active" if stem == active else ""}" href="{stem}.html">{html.escape(title or stem)}</a>'
                    for stem, title in pages)
    links += f'<a class="page{" active" if active == "api" else ""}" href="api.html">Index of functions</a>'
    return f'<nav id="hs-sidebar"><h2><a href="index.html">{html.escape(site)}</a></h2>{links}</nav>'

API_JS = """<script>function hsFilter(q){q=q.toLowerCase();document.querySelectorAll('#hs-api li').forEach(function(li){
li.style.display=li.textContent.toLowerCase().indexOf(q)>=0?'':'none';});document.querySelectorAll('#hs-api section').forEach(function(s){
s.style.display=[].some.call(s.querySelectorAll('li'),function(li){return li.style.display!=='none';})?'':'none';});}</script>"""

def docstrings(path:Path)->dict:
    "First docstring line of every function, class and method of a module, by dotted name (patched methods under their class)."
    import ast
    out = {}
    def first(node): return (ast.get_docstring(node) or '').strip().split('\n')[0]
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = first(node)
            for m in node.body:
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)): out[f'{node.name}.{m.name}'] = first(m)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[node.name] = first(node)
            args = node.args.args
            if args and isinstance(args[0].annotation, ast.Name): out[f'{args[0].annotation.id}.{node.name}'] = first(node)
    return out

def api_page()->str:
    "An index of every exported function and class (from nbdev's symbol index), with its page, its one-line docstring and a filter box."
    import importlib.util
    spec = importlib.util.spec_from_file_location('_modidx', ROOT/'headstyle'/'_modidx.py')
    idx = importlib.util.module_from_spec(spec); spec.loader.exec_module(idx)
    parts = ['<h1>Index of functions</h1><p>Every function and class the library exports, by module, with its one-line description; '
             'each links to the notebook page that defines and explains it.</p>'
             '<p><input id="hs-q" type="search" placeholder="filter by name or words" oninput="hsFilter(this.value)" '
             'style="width:24rem;padding:.4rem;font-size:1rem"></p><div id="hs-api">']
    for mod, syms in sorted(idx.d['syms'].items()):
        docs = docstrings(ROOT/(mod.replace('.', '/') + '.py'))
        items = []
        for name, (link, _) in sorted(syms.items(), key=lambda kv: kv[0].lower()):
            short = name[len(mod) + 1:]
            if short.split('.')[-1].startswith('_'): continue
            items.append(f'<li><a href="{html.escape(link)}"><code>{html.escape(short)}</code></a> {html.escape(docs.get(short, ""))}</li>')
        if items: parts.append(f'<section><h2><code>{html.escape(mod)}</code></h2><ul>{"".join(items)}</ul></section>')
    return ''.join(parts) + '</div>' + API_JS

def proc_nbs():
    "What `nbdev_proc_nbs` does, minus its attempt to install quarto: nbs/ -> _proc/."
    import os, nbdev.quarto
    os.chdir(ROOT)
    nbdev.quarto._ensure_quarto = lambda: None
    nbdev.quarto._pre_docs()

def order(p:Path): return (p.stem != 'index', p.stem)

def page_name(stem:str)->str:
    "A notebook's page name, as nbdev's site names it: without the number prefix (00_cameras -> cameras)."
    return re.sub(r'^\d+[a-z]?_', '', stem)

def doc_host()->str:
    "The site's public address from settings.ini; links to it become relative links in this build."
    from configparser import ConfigParser
    cfg = ConfigParser(); cfg.read(ROOT/'settings.ini')
    return cfg['DEFAULT']['doc_host'].rstrip('/') + cfg['DEFAULT']['doc_baseurl'].rstrip('/') + '/'

def main()->int:
    proc_nbs()
    if OUT.exists(): shutil.rmtree(OUT)
    OUT.mkdir()
    import jupyter_server_mathjax, plotly
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent/'static', OUT/'mathjax')
    shutil.copy(Path(plotly.__file__).parent/'package_data'/'plotly.min.js', OUT/'plotly.min.js')
    shutil.copy(ROOT/'nbs'/'styles.css', OUT/'styles.css')
    exporter = HTMLExporter(template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True,
                            mathjax_url='mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe')
    nbs = sorted(PROC.glob('*.ipynb'), key=order)
    prepared, failed = [], []
    for path in nbs:
        nb = nbformat.read(path, as_version=4)
        title, _ = prepare(nb)
        prepared.append((page_name(path.stem), title or path.stem, nb))
    pages, site, host = [(stem, title) for stem, title, _ in prepared], site_title(), doc_host()
    for stem, title, nb in prepared:
        try:
            body, _ = exporter.from_notebook_node(nb)
        except Exception as e:
            failed.append(stem); print(f"FAIL: {stem}.ipynb did not convert: {type(e).__name__}: {e}"); continue
        body = body.replace(host, '').replace('<head>', '<head>' + MATHJAX_FONTS, 1)
        body = body.replace('</head>', '<script src="plotly.min.js"></script><link rel="stylesheet" href="styles.css">'
                            + PAGE_CSS + '</head>', 1)
        body = re.sub(r'<body([^>]*)>', lambda m: f'<body{m.group(1)}>{sidebar(pages, stem, site)}<div id="hs-main">', body, count=1)
        body = body.replace('</body>', '</div></body>', 1)
        body = re.sub(r'<title>.*?</title>', f'<title>{html.escape(title)} – {html.escape(site)}</title>', body, count=1, flags=re.S)
        (OUT/f'{stem}.html').write_text(body, encoding='utf-8')
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Index of functions – {html.escape(site)}</title>'
            f'<link rel="stylesheet" href="styles.css">{PAGE_CSS}</head><body>{sidebar(pages, "api", site)}<div id="hs-main">{api_page()}</div></body></html>')
    (OUT/'api.html').write_text(page, encoding='utf-8')
    print(f"docs: wrote {len(prepared) - len(failed)} of {len(prepared)} pages and the index of functions to {OUT.relative_to(ROOT)}/")
    return 1 if failed else 0

if __name__ == '__main__': sys.exit(main())
