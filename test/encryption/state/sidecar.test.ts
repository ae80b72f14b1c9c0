import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  readSidecarFile,
  type SidecarFaultPoint,
  writeSidecarFile,
} from '../../../src/encryption/sidecar/file.ts';
import { probeSidecarFilesystem } from '../../../src/encryption/sidecar/probe.ts';
import {
  emptySidecar,
  parseSidecar,
  type Sidecar,
  serializeSidecar,
} from '../../../src/encryption/sidecar/schema.ts';
import { EncryptionStateCache } from '../../../src/encryption/state-cache.ts';
import { Err } from '../../../src/util/codes.ts';
import { isSealError } from '../../../src/util/errors.ts';
import { MemFs, wrappedFor } from './helpers.ts';

const code = (c: string) => (e: unknown) => isSealError(e, c);
const W = Buffer.from(wrappedFor(1)).toString('base64');

function doc(over: Record<string, string> = {}, keys?: string): string {
  const f: Record<string, string> = {
    version: '2',
    raft_applied_index: '18446744073709551615',
    storage_envelope_active: 'true',
    storage_envelope_cutover_index: '9007199254740993',
    raft_envelope_cutover_index: '0',
    active: '{"storage": 1, "raft": 2}',
    ...over,
  };
  const k =
    keys ??
    `{"1": {"purpose": "storage", "wrapped": "${W}", "created": "2026-01-01T00:00:00Z", "local_epoch": 3},` +
      ` "2": {"purpose": "raft", "wrapped": "${W}", "created": "x", "local_epoch": 0}}`;
  const members = Object.entries(f)
    .filter(([, v]) => v !== '')
    .map(([n, v]) => `"${n}": ${v}`);
  return `{${[...members, `"keys": ${k}`].join(', ')}}`;
}

const sample = (): Sidecar => parseSidecar(doc());

describe('sidecar schema (§4.1)', () => {
  test('parses uint64 indexes exactly and round-trips canonically', () => {
    const s = sample();
    assert.equal(s.raftAppliedIndex, 18446744073709551615n);
    assert.equal(s.storageEnvelopeCutoverIndex, 9007199254740993n);
    assert.deepEqual(s.active, { storage: 1, raft: 2 });
    assert.equal(s.keys.get(1)?.localEpoch, 3);
    assert.equal(s.keys.get(1)?.wrapped.length, 60);
    const text = serializeSidecar(s);
    assert.equal(serializeSidecar(parseSidecar(text)), text);
    assert.ok(text.indexOf('"version"') < text.indexOf('"raft_applied_index"'));
    assert.ok(text.indexOf('"1"') < text.indexOf('"2"'));
  });

  test('a v1 file without the storage cutover reads as 0 and is written as v2', () => {
    const s = parseSidecar(doc({ version: '1', storage_envelope_cutover_index: '' }));
    assert.equal(s.version, 1);
    assert.equal(s.storageEnvelopeCutoverIndex, 0n);
    const out = parseSidecar(serializeSidecar(s));
    assert.equal(out.version, 2);
    assert.match(serializeSidecar(s), /"storage_envelope_cutover_index": 0/);
    // v2 must carry the field.
    assert.throws(() => parseSidecar(doc({ storage_envelope_cutover_index: '' })), code(Err.SidecarInvalid));
  });

  test('versions outside 1..2 are ErrSidecarVersion', () => {
    for (const v of ['0', '3', '-1', '99999999999999999999']) {
      assert.throws(() => parseSidecar(doc({ version: v })), code(Err.SidecarVersion), v);
    }
    assert.throws(() => parseSidecar(doc({ version: '"2"' })), code(Err.SidecarInvalid));
  });

  test('key ids must be decimal uint32 and non-zero', () => {
    const key = `{"purpose": "storage", "wrapped": "${W}", "created": "c", "local_epoch": 0}`;
    for (const id of ['01', 'x', '-1', '4294967296', '1.0', ' 1', '']) {
      assert.throws(
        () => parseSidecar(doc({ active: '{"storage": 0, "raft": 0}' }, `{"${id}": ${key}}`)),
        code(Err.SidecarKeyIDFormat),
        id,
      );
    }
    assert.throws(
      () => parseSidecar(doc({ active: '{"storage": 0, "raft": 0}' }, `{"0": ${key}}`)),
      code(Err.SidecarReservedKeyID),
    );
    assert.ok(parseSidecar(doc({ active: '{"storage": 4294967295, "raft": 0}' }, `{"4294967295": ${key}}`)));
  });

  test('purpose and active-key invariants', () => {
    const key = (p: string) => `{"purpose": "${p}", "wrapped": "${W}", "created": "c", "local_epoch": 0}`;
    assert.throws(
      () => parseSidecar(doc({ active: '{"storage": 0, "raft": 0}' }, `{"5": ${key('Storage')}}`)),
      code(Err.SidecarPurpose),
    );
    assert.throws(
      () => parseSidecar(doc({ active: '{"storage": 5, "raft": 0}' }, `{"6": ${key('storage')}}`)),
      code(Err.SidecarActiveKeyMissing),
    );
    assert.throws(
      () => parseSidecar(doc({ active: '{"storage": 5, "raft": 0}' }, `{"5": ${key('raft')}}`)),
      code(Err.SidecarActivePurposeMismatch),
    );
    assert.throws(
      () => parseSidecar(doc({ active: '{"storage": 0, "raft": 5}' }, `{"5": ${key('storage')}}`)),
      code(Err.SidecarActivePurposeMismatch),
    );
  });

  test('malformed JSON and wrong types are ErrSidecarInvalid', () => {
    const bad = [
      '',
      '{',
      '[]',
      `${doc()} x`,
      doc({ raft_applied_index: '-1' }),
      doc({ raft_applied_index: '18446744073709551616' }),
      doc({ raft_applied_index: '1.5' }),
      doc({ raft_applied_index: '1e3' }),
      doc({ storage_envelope_active: '1' }),
      doc({ active: '{"storage": 1}' }),
      doc({ active: '{"storage": 1, "raft": 2, "raft": 2}' }),
      doc({}, '{"1": {"purpose": "storage", "wrapped": "not base64!", "created": "c", "local_epoch": 0}}'),
      doc({}, `{"1": {"purpose": "storage", "wrapped": "${W}", "created": "c", "local_epoch": 65536}}`),
      doc({}, `{"1": {"purpose": "storage", "wrapped": "${W}", "created": 5, "local_epoch": 0}}`),
    ];
    for (const b of bad) assert.throws(() => parseSidecar(b), code(Err.SidecarInvalid), b.slice(0, 80));
    assert.throws(() => parseSidecar(new Uint8Array([0x7b, 0xff, 0x7d])), code(Err.SidecarInvalid));
  });

  test('validation also runs before every write', () => {
    const s = { ...sample(), active: { storage: 9, raft: 2 } };
    assert.throws(() => serializeSidecar(s), code(Err.SidecarActiveKeyMissing));
    const fs = new MemFs();
    assert.throws(() => writeSidecarFile('/d/keys.json', s, { fs }), code(Err.SidecarActiveKeyMissing));
    assert.equal(fs.files.size, 0);
  });
});

describe('crash-durable write (§4.2)', () => {
  const points: SidecarFaultPoint[] = [
    'sidecar.tmpCreated',
    'sidecar.tmpWritten',
    'sidecar.beforeRename',
    'sidecar.afterRename',
    'sidecar.beforeDirSync',
    'sidecar.afterDirSync',
  ];
  const path = '/d/keys.json';
  const oldS = { ...sample(), raftAppliedIndex: 5n };
  const newS = { ...sample(), raftAppliedIndex: 6n };

  for (const point of points) {
    test(`a crash at ${point} leaves the old or the new file, never a torn one`, () => {
      const fs = new MemFs();
      writeSidecarFile(path, oldS, { fs });
      assert.throws(
        () =>
          writeSidecarFile(path, newS, {
            fs,
            faults: (p) => {
              if (p === point) throw new Error('crash');
            },
          }),
        /crash/,
      );
      const got = readSidecarFile(path, { fs });
      const afterRename = points.indexOf(point) >= points.indexOf('sidecar.afterRename');
      assert.equal(got?.raftAppliedIndex, afterRename ? 6n : 5n);
      assert.equal(fs.files.has(`${path}.tmp`), false);
      // The next write still succeeds.
      writeSidecarFile(path, newS, { fs });
      assert.equal(readSidecarFile(path, { fs })?.raftAppliedIndex, 6n);
    });
  }

  test('directory fsync failure is ErrUnsupportedFilesystem and removes the tmp', () => {
    const fs = new MemFs();
    fs.failDirSync = true;
    assert.throws(() => writeSidecarFile(path, newS, { fs }), code(Err.UnsupportedFilesystem));
    assert.equal(fs.files.has(`${path}.tmp`), false);
    const fs2 = new MemFs();
    fs2.failFsync = true;
    assert.throws(() => writeSidecarFile(path, newS, { fs: fs2 }), code(Err.UnsupportedFilesystem));
    assert.equal(fs2.files.size, 0);
  });

  test('a missing file reads as undefined', () => {
    assert.equal(readSidecarFile('/nope/keys.json', { fs: new MemFs() }), undefined);
  });
});

describe('real filesystem', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealkv-sidecar-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('scenario 23: a stale 0666 tmp is replaced; no tmp left; file is 0600', () => {
    const path = join(dir, 'keys.json');
    writeFileSync(`${path}.tmp`, 'garbage', { mode: 0o666 });
    writeSidecarFile(path, sample());
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['keys.json']);
    assert.equal(readSidecarFile(path)?.raftAppliedIndex, sample().raftAppliedIndex);
    assert.equal(readFileSync(path, 'utf8'), serializeSidecar(sample()));
    assert.equal(readSidecarFile(join(dir, 'absent.json')), undefined);
  });

  test('filesystem probe passes and leaves nothing behind', () => {
    const d = mkdtempSync(join(dir, 'probe-'));
    probeSidecarFilesystem(join(d, 'keys.json'), { randomSuffix: () => 'abc' });
    assert.deepEqual(readdirSync(d), []);
  });

  test('probe: missing directory → ErrSidecarPathInvalid; fsync failure → ErrUnsupportedFilesystem', () => {
    assert.throws(
      () => probeSidecarFilesystem(join(dir, 'no', 'such', 'keys.json')),
      code(Err.SidecarPathInvalid),
    );
    const fs = new MemFs();
    fs.failDirSync = true;
    assert.throws(() => probeSidecarFilesystem('/d/keys.json', { fs }), code(Err.UnsupportedFilesystem));
    assert.equal(fs.files.size, 0);
    assert.throws(
      () => probeSidecarFilesystem('/missing/keys.json', { fs: new MemFs() }),
      code(Err.SidecarPathInvalid),
    );
  });
});

describe('state cache (§4.4)', () => {
  test('registered() needs a non-zero active key equal to the registered one; rotation re-arms', () => {
    const c = new EncryptionStateCache();
    assert.equal(c.registered(), false);
    c.markRegistered(0);
    assert.equal(c.registered(), false);
    c.refresh(sample());
    assert.equal(c.activeStorage, 1);
    assert.equal(c.storageEnvelopeActive, true);
    assert.equal(c.registered(), false);
    c.markRegistered(1);
    assert.equal(c.registered(), true);
    const rotated = parseSidecar(doc({ active: '{"storage": 3, "raft": 2}' }).replace('"1":', '"3":'));
    c.refresh(rotated);
    assert.equal(c.registered(), false);
    c.refresh(emptySidecar());
    assert.equal(c.activeStorage, 0);
  });
});
