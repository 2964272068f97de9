#!/usr/bin/env python3
"""Adds lockfile entries for optional platform packages that this machine's registry does not serve.

npm 11 leaves such packages out of package-lock.json, and `npm ci` then refuses the lockfile
("Missing: @biomejs/cli-win32-x64@ from lock file"). Each added entry is optional and names its os/cpu/libc,
so npm skips it on other platforms without downloading anything. Run after `npm install` changes the lockfile:
    python3 scripts/fix-lockfile.py
"""
import json, re, subprocess, sys

LOCK = 'package-lock.json'
lock = json.load(open(LOCK))
packages = lock['packages']

def platform_of(name):
    os_ = next((o for o in ['darwin', 'win32', 'windows', 'linux', 'android', 'freebsd', 'openbsd', 'sunos', 'aix', 'netbsd'] if o in name), None)
    cpu = next((c for c in ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'] if re.search(rf'(?<![a-z0-9]){c}(?![a-z0-9])', name.replace('-64', '-x64') if 'workerd' in name else name)), None)
    entry = {}
    if os_:
        entry['os'] = ['win32' if os_ == 'windows' else os_]
    if cpu:
        entry['cpu'] = [cpu]
    if 'musl' in name:
        entry['libc'] = ['musl']
    return entry

added = 0
for path, meta in list(packages.items()):
    for dep, version in (meta.get('optionalDependencies') or {}).items():
        if any(k.endswith('node_modules/' + dep) and v.get('version') == version for k, v in packages.items()):
            continue
        # Put it where Node would find it: beside the linux build of the same family and version, if npm
        # installed one in a nested folder (e.g. wrangler's own workerd), else at the top level.
        family = re.split(r'-(?:darwin|win32|windows|linux|android|freebsd)', dep)[0]
        sibling = next((k for k, v in packages.items() if re.search(rf'node_modules/{re.escape(family)}-linux-', k) and v.get('version') == version), None)
        folder = sibling.rsplit('node_modules/', 1)[0] if sibling else ''
        # If that place holds another version, nest it under the package that wants it.
        candidates = [folder + 'node_modules/' + dep, (path + '/' if path else '') + 'node_modules/' + dep]
        top = next((c for c in candidates if c not in packages), None)
        if top is None:
            print(f'no free place for {dep}@{version} (wanted by {path})', file=sys.stderr)
            continue
        platform = platform_of(dep)
        if not platform.get('os'):
            print(f'skip {dep}: no platform in its name', file=sys.stderr)
            continue
        packages[top] = {'version': version, 'dev': meta.get('dev', False) or None, 'optional': True, **platform}
        packages[top] = {k: v for k, v in packages[top].items() if v is not None}
        added += 1
        print(f'added {top}@{version} {platform}')

json.dump(lock, open(LOCK, 'w'), indent=2)
open(LOCK, 'a').write('\n')
print(f'{added} entries added')
