#!/usr/bin/env node
// The package mirror of our build machines serves only Linux builds of
// platform-specific packages, so `npm install` here leaves the other
// platforms' optional dependencies out of package-lock.json, and `npm ci`
// then refuses the lock as out of sync. This adds the missing optional
// entries with the os/cpu/libc constraints their names encode, which is what
// npm writes when it can see every platform: npm ci skips them on non-matching
// machines and fetches them by version on matching ones.
// Run after `npm install` whenever dependencies change.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const pkgs = lock.packages;

function constraints(name) {
  const base = name.split('/').pop();
  const os = [
    'darwin',
    'linux',
    'win32',
    'android',
    'freebsd',
    'openbsd',
    'netbsd',
    'sunos',
    'aix',
    'openharmony',
  ].find((o) => base.includes(o));
  const cpu = ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'].find((c) =>
    new RegExp(`(^|[-_])${c}($|[-_])`).test(base),
  );
  const out = {};
  if (os) out.os = [os];
  if (cpu) out.cpu = [cpu];
  if (/musl/.test(base)) out.libc = ['musl'];
  else if (os === 'linux' && /gnu/.test(base)) out.libc = ['glibc'];
  return out;
}

let added = 0;
for (const [loc, meta] of Object.entries(pkgs)) {
  for (const [dep, range] of Object.entries(meta.optionalDependencies ?? {})) {
    const nested = `${loc === '' ? '' : `${loc}/`}node_modules/${dep}`;
    if (pkgs[nested] !== undefined || pkgs[`node_modules/${dep}`] !== undefined) continue;
    const c = constraints(dep);
    if (c.os === undefined && c.cpu === undefined) continue;
    pkgs[`node_modules/${dep}`] = { version: range.replace(/^[\^~=]/, ''), optional: true, ...c };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: added ${added} optional platform entries`);
