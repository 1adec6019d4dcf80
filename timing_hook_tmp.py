import time, atexit, collections
T0 = time.perf_counter()
acc = collections.defaultdict(float)
state = {}
last = [T0]
def mark(name):
    now = time.perf_counter(); acc[name] += now - last[0]; last[0] = now
def on_startup(**kw): last[0] = time.perf_counter(); acc["startup(import)"] += last[0] - T0
def on_config(config, **kw): mark("to on_config"); return config
def on_pre_build(**kw): mark("to pre_build (gen-files etc)")
def on_files(files, **kw): mark("to on_files (gen-files runs here)"); return files
def on_nav(nav, **kw): mark("to on_nav"); return nav
def on_env(env, **kw): mark("to on_env"); return env
def kind(page):
    p = page.file.src_uri
    return "eq" if p.startswith("equations/feynman") else "ref" if p.startswith("reference") else "other"
def on_page_markdown(md, page, **kw): mark("between pages (read_source etc)"); return md
def on_page_content(html, page, **kw): mark("convert " + kind(page)); return html
def on_page_context(ctx, page, **kw): mark("content->context"); return ctx
def on_post_page(out, page, **kw): mark("template+search " + kind(page)); return out
def on_post_build(**kw): mark("to post_build (search index write etc)")
def on_shutdown(**kw):
    mark("to shutdown")
    for k, v in sorted(acc.items(), key=lambda x: -x[1]): print(f"{v:7.2f} {k}")
    print(f"{time.perf_counter()-T0:7.2f} total since hook import")
