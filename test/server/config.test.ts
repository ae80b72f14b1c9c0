import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseServerConfig } from '../../src/server/config.ts';

const base = ['--id', 'n1', '--data-dir', '/tmp/d', '--raft-addr', '127.0.0.1:7001'];

describe('sealkv server flags', () => {
  test('defaults', () => {
    const c = parseServerConfig(base);
    assert.equal(c.id, 'n1');
    assert.equal(c.dataDir, '/tmp/d');
    assert.deepEqual(c.raftAddr, { host: '127.0.0.1', port: 7001 });
    assert.deepEqual(c.redisAddr, { host: '127.0.0.1', port: 6379 });
    assert.deepEqual(c.adminAddr, { host: '127.0.0.1', port: 50051 });
    assert.equal(c.metricsAddr, undefined);
    assert.equal(c.encryptionEnabled, false);
    assert.equal(c.rotateOnStartup, false);
    assert.equal(c.kekFile, undefined);
    assert.equal(c.sidecarPath, undefined);
    assert.equal(c.logLevel, 'info');
    assert.deepEqual(c.peers, []);
  });

  test('--name value and --name=value are equivalent; peers parsed', () => {
    const c = parseServerConfig([
      '--id=n2',
      '--data-dir=/d',
      '--raft-addr=[::1]:7002',
      '--peers=n1=10.0.0.1:7001@10.0.0.1:50051,n2=10.0.0.2:7001@10.0.0.2:50051',
      '--encryption-enabled',
      '--kek-file',
      '/k',
      '--encryption-sidecar-path=/d/encryption/keys.json',
      '--encryption-rotate-on-startup=true',
      '--metrics-addr',
      '0.0.0.0:9100',
      '--log-level=debug',
    ]);
    assert.deepEqual(c.raftAddr, { host: '::1', port: 7002 });
    assert.deepEqual(
      c.peers.map((p) => [p.id, p.raftAddr.host, p.adminAddr.port]),
      [
        ['n1', '10.0.0.1', 50051],
        ['n2', '10.0.0.2', 50051],
      ],
    );
    assert.equal(c.encryptionEnabled, true);
    assert.equal(c.kekFile, '/k');
    assert.equal(c.sidecarPath, '/d/encryption/keys.json');
    assert.equal(c.rotateOnStartup, true);
    assert.deepEqual(c.metricsAddr, { host: '0.0.0.0', port: 9100 });
    assert.equal(c.logLevel, 'debug');
  });

  test('an empty sidecar path is accepted as absent (mutators refuse later)', () => {
    assert.equal(parseServerConfig([...base, '--encryption-sidecar-path=']).sidecarPath, undefined);
  });

  const bad: [string, string[], RegExp][] = [
    ['missing --id', ['--data-dir', '/d', '--raft-addr', 'h:1'], /--id is required/],
    ['missing --raft-addr for server', ['--id', 'a', '--data-dir', '/d'], /--raft-addr is required/],
    ['unknown flag', [...base, '--nope'], /unknown flag --nope/],
    ['positional', [...base, 'extra'], /unexpected argument/],
    ['repeated flag', [...base, '--id', 'x'], /more than once/],
    ['value missing', [...base, '--kek-file'], /--kek-file needs a value/],
    ['bad port', [...base, '--redis-addr', 'h:70000'], /--redis-addr "h:70000"/],
    ['no port', [...base, '--admin-addr', 'localhost'], /--admin-addr/],
    ['bad peers entry', [...base, '--peers', 'n1=h:1'], /not id=<raft host:port>@<admin host:port>/],
    ['duplicate peer', [...base, '--peers', 'n1=h:1@h:2,n1=h:3@h:4'], /"n1" twice/],
    ['shared raft address', [...base, '--peers', 'n1=h:1@h:2,n2=h:1@h:4'], /raft address h:1/],
    ['self not in peers', [...base, '--peers', 'n2=h:1@h:2'], /does not list this node's --id "n1"/],
    ['peers and join', [...base, '--peers', 'n1=h:1@h:2', '--join', 'h:9'], /mutually exclusive/],
    ['bad bool', [...base, '--encryption-enabled=yes'], /=true\/=false/],
    ['bad log level', [...base, '--log-level', 'loud'], /--log-level "loud"/],
  ];
  for (const [name, argv, msg] of bad) {
    test(`usage error: ${name}`, () => {
      assert.throws(
        () => parseServerConfig(argv),
        (e) => e instanceof ConfigError && msg.test(e.message),
      );
    });
  }

  test('doctor mode does not need --raft-addr', () => {
    assert.equal(parseServerConfig(['--id', 'a', '--data-dir', '/d'], 'doctor').raftAddr, undefined);
  });
});
