#!/usr/bin/env python3
"""Cycles among the modules of a crate's src/, from its `crate::…` paths, by Tarjan's algorithm.

    python3 tools/import-cycles/cycles.py app/src

prints the modules, the edges and the cycles ("none" when imports run one way). Test modules
(`#[cfg(test)] mod tests`) are left out: they may use anything of their parent.
"""
import os, re, sys
root = sys.argv[1]
mods = {}
for dp, _, fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            p = os.path.join(dp, f)
            rel = os.path.relpath(p, root)[:-3].replace(os.sep, '::')
            rel = re.sub(r'(::)?mod$', '', rel)
            if rel in ('lib', 'main'): rel = ''
            mods[rel] = open(p).read()
names = set(mods)
def resolve(path):
    parts = path.split('::')
    for i in range(len(parts), 0, -1):
        cand = '::'.join(parts[:i])
        if cand in names: return cand
    return None
edges = {m: set() for m in mods}
for m, src in mods.items():
    src = re.sub(r'#\[cfg\(test\)\]\s*mod tests\s*\{.*', '', src, flags=re.S)
    for g in re.finditer(r'crate::((?:\w+::)*\w+)', src):
        t = resolve(g.group(1))
        if t is not None and t != m and not m.startswith(t + '::') and t != '':
            edges[m].add(t)
    for g in re.finditer(r'use crate::\{([^}]*)\}', src):
        for item in g.group(1).split(','):
            t = resolve(item.strip().split('::')[0])
            if t and t != m: edges[m].add(t)
idx = {}; low = {}; st = []; on = set(); sccs = []; c = [0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in edges[v]:
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(comp)
for v in edges:
    if v not in idx: sc(v)
print(f"{len(mods)} modules, {sum(len(e) for e in edges.values())} edges, cycles: {sccs or 'none'}")
