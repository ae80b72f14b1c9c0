import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import type { Backend, Watch } from '../../src/redis/backend.ts';
import type { Reply } from '../../src/redis/commands/types.ts';
import { Connection, DEFAULT_CONNECTION_LIMITS } from '../../src/redis/connection.ts';
import { LocalPubSub } from '../../src/redis/pubsub.ts';
import { encodeCommand } from '../../src/redis/resp/writer.ts';
import { SealError } from '../../src/util/errors.ts';
import { FakeSocket } from '../helpers/fake-socket.ts';
import { MemoryBackend } from '../helpers/memory-backend.ts';

type Observed = [name: string, error: boolean];

function connection(backend: Backend = new MemoryBackend()): { socket: FakeSocket; observed: Observed[] } {
  const socket = new FakeSocket();
  const observed: Observed[] = [];
  new Connection(socket as unknown as Socket, 1, {
    backend,
    pubsub: new LocalPubSub(),
    limits: { ...DEFAULT_CONNECTION_LIMITS, maxPipelineBatch: 4 },
    infoText: () => '',
    onClose: () => {},
    observeCommand: (name, seconds, error) => {
      assert.ok(seconds >= 0 && Number.isFinite(seconds));
      observed.push([name, error]);
    },
  });
  return { socket, observed };
}

const cmds = (...list: string[][]): Buffer => Buffer.concat(list.map((c) => encodeCommand(c)));

describe('connection dispatch', () => {
  test('keyspace commands in any case answer alike and are observed under their registered name', async () => {
    const { socket, observed } = connection();
    const got = await socket.send(
      cmds(
        ['SET', 'k', 'v'],
        ['get', 'k'],
        ['GeT', 'k'],
        ['gET', 'k'],
        ['STRLEN', 'k'],
        ['Del', 'k'],
        ['GET', 'k'],
      ),
    );
    assert.equal(got, '+OK\r\n$1\r\nv\r\n$1\r\nv\r\n$1\r\nv\r\n:1\r\n:1\r\n$-1\r\n');
    assert.deepEqual(observed, [
      ['set', false],
      ['get', false],
      ['get', false],
      ['get', false],
      ['strlen', false],
      ['del', false],
      ['get', false],
    ]);
  });

  test('unknown commands, arity errors and command errors keep their texts, order and error flags', async () => {
    const { socket, observed } = connection();
    const got = await socket.send(
      cmds(
        ['set', 'n', 'x'],
        ['GET'],
        ['incr', 'n'],
        ['NoSuchCmd', 'a', 'b'],
        ['get', 'n', 'extra'],
        ['Get', 'n'],
        ['G\u00c9T', 'n'],
      ),
    );
    assert.equal(
      got,
      [
        '+OK',
        "-ERR wrong number of arguments for 'get' command",
        '-ERR value is not an integer or out of range',
        "-ERR unknown command 'NoSuchCmd', with args beginning with: 'a' 'b' ",
        "-ERR wrong number of arguments for 'get' command",
        '$1',
        'x',
        "-ERR unknown command 'G\u00c3\u0089T', with args beginning with: 'n' ",
        '',
      ].join('\r\n'),
    );
    assert.deepEqual(observed, [
      ['set', false],
      ['get', true],
      ['incr', true],
      ['NoSuchCmd', true],
      ['get', true],
      ['get', false],
      ['G\u00c3\u0089T', true],
    ]);
  });

  test('connection commands in mixed case still reach the connection, inside and outside MULTI', async () => {
    const { socket, observed } = connection();
    const got = await socket.send(
      cmds(
        ['Ping'],
        ['mUlTi'],
        ['SeT', 'a', '1'],
        ['PING'],
        ['nosuch'],
        ['exec'],
        ['MULTI'],
        ['set', 'b', '2'],
        ['EXEC'],
      ),
    );
    assert.equal(
      got,
      [
        '+PONG',
        '+OK',
        '+QUEUED',
        '+QUEUED',
        "-ERR unknown command 'nosuch', with args beginning with: ",
        '-EXECABORT Transaction discarded because of previous errors.',
        '+OK',
        '+QUEUED',
        '*1',
        '+OK',
        '',
      ].join('\r\n'),
    );
    assert.deepEqual(
      observed.map(([n]) => n),
      ['Ping', 'mUlTi', 'SeT', 'PING', 'nosuch', 'exec', 'MULTI', 'set', 'EXEC'],
    );
  });

  test('a backend failure answers every command of the batch with the error', async () => {
    const failing: Backend = {
      run: async (): Promise<Reply[]> => {
        throw new SealError('ErrNotLeader', 'no leader\r\nyet');
      },
      transaction: async () => null,
      watch: async (keys): Promise<Watch> => ({ keys, sinceTs: 0n }),
      info: () => ({}),
    };
    const { socket, observed } = connection(failing);
    const got = await socket.send(cmds(['get', 'a'], ['SET', 'a', 'b'], ['get']));
    assert.equal(
      got,
      "-TRYAGAIN ErrNotLeader: no leader yet\r\n-TRYAGAIN ErrNotLeader: no leader yet\r\n-ERR wrong number of arguments for 'get' command\r\n",
    );
    assert.deepEqual(observed, [
      ['get', true],
      ['set', true],
      ['get', true],
    ]);
  });
});
