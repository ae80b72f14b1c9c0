// HARNESS SMOKE MODEL — a stand-in for real Raft nodes so that the simulator pieces (queue,
// network faults, trace, linearizability check) run end to end. To be replaced by the real
// cluster wiring; nothing in src/ depends on it.

import type { KvCmd, KvOutput } from '../lincheck/models.ts';

export type SmokeMsg =
  | { readonly t: 'req'; readonly reqId: number; readonly cmd: KvCmd }
  | { readonly t: 'resp'; readonly reqId: number; readonly output: KvOutput }
  | { readonly t: 'repl'; readonly seq: number; readonly cmd: KvCmd }
  | { readonly t: 'ack'; readonly seq: number };

export function describeMsg(m: SmokeMsg): string {
  switch (m.t) {
    case 'req':
      return `Req #${m.reqId} ${m.cmd.f} ${m.cmd.key}`;
    case 'resp':
      return `Resp #${m.reqId}`;
    case 'repl':
      return `Repl s${m.seq} ${m.cmd.f} ${m.cmd.key}`;
    case 'ack':
      return `Ack s${m.seq}`;
  }
}

export type Store = Map<string, string | readonly string[]>;

/** Execute one command on a store; returns the client-visible output. */
export function execCmd(store: Store, c: KvCmd): KvOutput {
  const cur = store.get(c.key);
  switch (c.f) {
    case 'get':
      return typeof cur === 'string' ? cur : null;
    case 'read':
      return typeof cur === 'object' ? [...cur] : [];
    case 'put':
      store.set(c.key, c.value);
      return 'ok';
    case 'append':
      store.set(c.key, [...(typeof cur === 'object' ? cur : []), c.value]);
      return 'ok';
    case 'cas': {
      const hit = (typeof cur === 'string' ? cur : null) === c.expect;
      if (hit) store.set(c.key, c.value);
      return hit;
    }
  }
}

export function isWrite(c: KvCmd): boolean {
  return c.f !== 'get' && c.f !== 'read';
}
