import type { RaftConfig } from '../../../src/raft/core/config.ts';
import { type Message, makeMessage } from '../../../src/raft/core/messages.ts';
import type { Ready } from '../../../src/raft/core/ready.ts';
import { ConfChangeType, EntryType, type NodeId } from '../../../src/raft/core/types.ts';
import { errorCode } from '../../../src/util/errors.ts';
import { enc, Network } from '../core/harness.ts';
import { fmtEntry, fmtMsg } from './format.ts';

/**
 * Executes the golden-transcript commands of docs/spec/raft.md §3 against the real core
 * (through the test Network: in-memory durable log, simulated per-node clocks) and
 * renders one fact per line, every log position written as term/index.
 */

const ROLE: Record<string, string> = { leader: 'L', follower: 'F', candidate: 'C', precandidate: 'P' };

type Args = { pos: string[]; kv: Map<string, string> };

function parseArgs(words: string[]): Args {
  const pos: string[] = [];
  const kv = new Map<string, string>();
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq > 0) kv.set(w.slice(0, eq), w.slice(eq + 1));
    else pos.push(w);
  }
  return { pos, kv };
}

function size(s: string): number {
  const m = /^(\d+)([KM]?)$/.exec(s);
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * (m[2] === 'K' ? 1024 : m[2] === 'M' ? 1024 * 1024 : 1);
}

export class GoldenSession {
  private net: Network | undefined;
  private out: string[] = [];
  private logLevel = 'none';
  private pendingInfo: string[] = [];
  private proposals: { node: NodeId; term: number; index: number; data: string }[] = [];

  private get n(): Network {
    if (this.net === undefined) throw new Error('no cluster: start with `cluster n=...`');
    return this.net;
  }

  /** Runs one command line; returns its output lines. */
  run(line: string): string[] {
    this.out = [];
    const [cmd = '', ...rest] = line.trim().split(/\s+/);
    const a = parseArgs(rest);
    try {
      this.dispatch(cmd, a, rest);
    } catch (e) {
      const code = errorCode(e);
      if (code === undefined) throw e;
      this.out.push(`error ${code}`);
    }
    this.flushInfo();
    return this.out;
  }

  private flushInfo(): void {
    for (const l of this.pendingInfo) this.out.push(`  INFO ${l}`);
    this.pendingInfo = [];
  }

  private dispatch(cmd: string, a: Args, raw: string[]): void {
    switch (cmd) {
      case 'cluster':
        this.cluster(a);
        return;
      case 'log-level':
        this.logLevel = a.pos[0] ?? 'none';
        return;
      case 'set-log':
        this.setLog(a);
        return;
      case 'campaign':
        this.n.core(this.id(a)).campaign();
        return;
      case 'tick':
        for (const id of a.pos) this.n.tick(id, Number(a.kv.get('n') ?? 1));
        return;
      case 'tick-stabilize':
        // K rounds of: every live node ticks once, then the network settles (unprinted).
        this.n.tickAll(Number(a.kv.get('n') ?? 1));
        return;
      case 'tick-election':
        this.tickElection(this.id(a));
        return;
      case 'tick-heartbeat':
        this.n.tick(this.id(a));
        return;
      case 'clock':
        this.n.node(this.id(a)).clockMs += Number((a.pos[1] ?? '+0').replace('+', ''));
        return;
      case 'propose': {
        const data = raw.slice(1).join(' ');
        const idx = this.n.core(this.id(a)).propose(enc(data));
        const term = this.n.core(this.id(a)).raft.term;
        this.proposals.push({ node: this.id(a), term, index: idx, data });
        this.out.push(`ok ${term}/${idx}`);
        return;
      }
      case 'inject':
        this.inject(raw);
        return;
      case 'reads': {
        // Every read state the node has received so far, including unprinted cycles.
        const rs = this.n.node(this.id(a)).readStates;
        if (rs.length === 0) this.out.push('none');
        for (const r of rs) this.out.push(`ctx=${new TextDecoder().decode(r.context)} i=${r.index}`);
        return;
      }
      case 'outcomes':
        this.outcomes();
        return;
      case 'propose-conf':
        this.proposeConf(a);
        return;
      case 'transfer':
        this.n.core(this.id(a)).transferLeadership(a.pos[1] ?? '');
        return;
      case 'read-index':
        this.n.core(this.id(a)).readIndex(enc(a.pos[1] ?? ''));
        return;
      case 'lease-read':
        this.out.push(`ok i=${this.n.core(this.id(a)).leaseRead()}`);
        return;
      case 'ready':
        this.ready(this.id(a));
        return;
      case 'deliver-msgs':
        this.deliverMsgs(a);
        return;
      case 'stabilize':
        this.stabilize(a.pos.length > 0 ? a.pos : this.n.ids());
        return;
      case 'partition':
        this.partition(raw);
        return;
      case 'heal':
        this.n.heal();
        return;
      case 'halt-apply': {
        const node = this.n.node(this.id(a));
        node.haltAt = a.pos[1] === 'off' ? undefined : Number(a.kv.get('at'));
        return;
      }
      case 'crash':
        this.n.crash(this.id(a));
        return;
      case 'restart':
        this.n.restart(this.id(a));
        return;
      case 'compact':
        this.n.compact(this.id(a), Number(a.pos[1]));
        return;
      case 'report-unreachable':
        this.n.core(this.id(a)).reportUnreachable(a.pos[1] ?? '');
        return;
      case 'report-snapshot':
        this.n.core(this.id(a)).reportSnapshot(a.pos[1] ?? '', a.pos[2] === 'ok');
        return;
      case 'status':
        for (const id of a.pos.length > 0 ? a.pos : this.n.ids()) this.status(id);
        return;
      case 'raft-log':
        this.raftLog(this.id(a));
        return;
      case 'check': {
        const v = this.n.checkCommittedAgreement();
        this.out.push(...(v.length === 0 ? ['ok'] : v));
        return;
      }
      default:
        throw new Error(`unknown command ${cmd}`);
    }
  }

  private id(a: Args): NodeId {
    const id = a.pos[0];
    if (id === undefined) throw new Error('missing node id');
    return id;
  }

  private cluster(a: Args): void {
    const E = 10;
    const cfg: Partial<RaftConfig> = {
      preVote: a.kv.get('prevote') !== 'off',
      checkQuorum: a.kv.get('checkquorum') !== 'off',
      leaseReads: a.kv.get('lease') === 'on',
    };
    if (a.kv.has('inflight')) cfg.maxInflightMsgs = Number(a.kv.get('inflight'));
    if (a.kv.has('maxmsg')) cfg.maxMsgBytes = size(a.kv.get('maxmsg') ?? '');
    if (a.kv.has('slack')) cfg.promoteSlack = Number(a.kv.get('slack'));
    const perNode: Record<string, Partial<RaftConfig>> = {};
    for (const spec of (a.kv.get('timeout') ?? '').split(',').filter((s) => s !== '')) {
      const [id = '', t = ''] = spec.split(':');
      const x = (Number(t) - E + 0.5) / E;
      perNode[id] = { rand: () => x };
    }
    this.net = new Network({
      voters: Number(a.kv.get('n') ?? 3),
      learners: Number(a.kv.get('learners') ?? 0),
      extra: Number(a.kv.get('extra') ?? 0),
      seed: Number(a.kv.get('seed') ?? 1),
      cfg,
      perNode,
      logger: (l) => {
        if (this.logLevel !== 'none') this.pendingInfo.push(l);
      },
    });
  }

  private setLog(a: Args): void {
    const id = this.id(a);
    const terms = a.pos.slice(1).map((p) => Number(p.split('/')[0]));
    this.n.setLog(id, terms, {
      term: Number(a.kv.get('term') ?? Math.max(0, ...terms)),
      vote: a.kv.get('vote') ?? '',
      commit: Number(a.kv.get('commit') ?? 0),
    });
  }

  private tickElection(id: NodeId): void {
    const c = this.n.core(id);
    for (let i = 0; i < 100 && c.status().role === 'follower'; i++) this.n.tick(id);
  }

  private proposeConf(a: Args): void {
    const id = this.id(a);
    const kinds: Record<string, ConfChangeType> = {
      'add-voter': ConfChangeType.AddVoter,
      'add-learner': ConfChangeType.AddLearner,
      promote: ConfChangeType.PromoteLearner,
      remove: ConfChangeType.RemoveNode,
    };
    const type = kinds[a.pos[1] ?? ''];
    if (type === undefined) throw new Error(`unknown conf change ${a.pos[1]}`);
    const idx = this.n.core(id).proposeConfChange({ type, node: a.pos[2] ?? '', context: new Uint8Array() });
    this.out.push(`ok ${this.n.core(id).raft.term}/${idx}`);
  }

  /** One D1 cycle on `id`, printed. */
  private ready(id: NodeId): boolean {
    const rd = this.n.readyOnce(id);
    if (rd === undefined) return false;
    this.printReady(id, rd);
    return true;
  }

  private printReady(id: NodeId, rd: Ready): void {
    this.out.push(`> n${id} ready sync=${rd.mustSync}`);
    if (rd.hardState) {
      const hs = rd.hardState;
      this.out.push(`  HS t${hs.term} v${hs.vote === '' ? '-' : hs.vote} c${hs.commit}`);
    }
    if (rd.snapshot) {
      const m = rd.snapshot.meta;
      this.out.push(
        `  Snap ${m.term}/${m.index} voters=${m.conf.voters.join(',')} learners=${m.conf.learners.join(',')}`,
      );
    }
    for (const e of rd.entries) this.out.push(`  Ents ${fmtEntry(e)}`);
    for (const m of rd.messages)
      this.out.push(`  Msg ${fmtMsg(m)}${this.n.isCut(m.from, m.to) ? ' (cut)' : ''}`);
    const node = this.n.node(id);
    for (const e of rd.committedEntries) {
      if (node.halted && e.index === node.haltAt) {
        this.out.push(`  Halt ${fmtEntry(e)}: nothing written, rest of the Ready skipped`);
        this.flushInfo();
        return;
      }
      let line = `  Apply ${fmtEntry(e)}`;
      if (e.type === EntryType.ConfChange) {
        const cs = this.n.node(id).confAt.get(e.index) ?? { voters: [], learners: [] };
        line += ` -> voters=${cs.voters.join(',')} learners=${cs.learners.join(',')}`;
      }
      this.out.push(line);
    }
    for (const r of rd.readStates)
      this.out.push(`  Read ctx=${new TextDecoder().decode(r.context)} i=${r.index}`);
    this.flushInfo();
  }

  private deliverTo(to: NodeId, filter: (m: Message) => boolean): boolean {
    const msgs = this.n.deliver(to, filter);
    for (const m of msgs) this.out.push(`> n${to} recv ${fmtMsg(m)}`);
    this.flushInfo();
    return msgs.length > 0;
  }

  private deliverMsgs(a: Args): void {
    const from = a.kv.get('from');
    const type = a.kv.get('type');
    let budget = Number(a.kv.get('n') ?? Number.POSITIVE_INFINITY);
    const match = (m: Message) =>
      (from === undefined || m.from === from) && (type === undefined || m.type === type);
    const filter = (m: Message) => {
      if (!match(m) || budget <= 0) return false;
      budget--;
      return true;
    };
    for (const to of (a.kv.get('drop') ?? '').split(',').filter((s) => s !== '')) {
      for (const m of this.n.drop(to, filter)) this.out.push(`  dropped ${fmtMsg(m)}`);
    }
    for (const to of a.pos.filter((p) => p !== 'reverse' && p !== 'dup')) {
      const q = this.n.queues.get(to) ?? [];
      if (a.pos.includes('reverse')) q.reverse();
      if (a.pos.includes('dup'))
        this.n.queues.set(
          to,
          q.flatMap((m) => [m, m]),
        );
      this.deliverTo(to, filter);
    }
  }

  private stabilize(ids: NodeId[]): void {
    for (let round = 0; round < 200; round++) {
      let progress = false;
      for (const id of ids) if (this.ready(id)) progress = true;
      for (const id of ids) if (this.deliverTo(id, () => true)) progress = true;
      if (!progress) return;
    }
    throw new Error('stabilize did not converge');
  }

  private partition(raw: string[]): void {
    const arrow = raw.indexOf('->');
    if (arrow > 0) {
      for (const x of raw.slice(0, arrow)) for (const y of raw.slice(arrow + 1)) this.n.cutLink(x, y);
      return;
    }
    const groups: string[][] = [[]];
    for (const w of raw) {
      if (w === '|') groups.push([]);
      else groups[groups.length - 1]?.push(w);
    }
    this.n.partition(...groups);
  }

  private status(id: NodeId): void {
    const node = this.n.node(id);
    if (node.crashed) {
      this.out.push(`n${id} ${node.halted ? 'H' : 'X'} durable-applied=${node.appliedIndex}`);
      return;
    }
    const s = node.core.status();
    const role = s.isLearner && s.role === 'follower' ? 'R' : (ROLE[s.role] ?? '?');
    const extra = s.leadTransferee === '' ? '' : ` transferee=${s.leadTransferee}`;
    this.out.push(
      `n${id} ${role} t${s.term} v${s.vote || '-'} lead=${s.lead || '-'} c${s.commit} a${s.applied} last=${s.lastTerm}/${s.lastIndex}${extra}`,
    );
    for (const [pid, p] of s.progress) {
      if (pid === id) continue;
      const flags = `${p.paused ? ' paused' : ''}${p.inflight > 0 ? ` inflight=${p.inflight}` : ''}${p.learner ? ' learner' : ''}`;
      this.out.push(`  ${pid} ${p.state} match=${p.match} next=${p.next}${flags}`);
    }
  }

  /**
   * Steps a hand-written message (in the printed format) into its target, e.g.
   * `inject 1->2 App t2 prev=1/9 c11 [2/10 2/11]` or `inject 1->2 Snap t2 snap=2/15`.
   */
  private inject(raw: string[]): void {
    const [route = '', type = '', term = '', ...rest] = raw;
    const [from = '', to = ''] = route.split('->');
    const kv = parseArgs(rest.filter((w) => !w.startsWith('[') && !w.endsWith(']'))).kv;
    const pair = (v: string | undefined): [number, number] => {
      const [t = '0', i = '0'] = (v ?? '0/0').split('/');
      return [Number(t), Number(i)];
    };
    const ents = (raw.join(' ').match(/\[(.*)\]/)?.[1] ?? '')
      .split(' ')
      .filter((x) => x !== '')
      .map((x) => {
        const [t, i] = pair(x);
        return { term: t, index: i, type: EntryType.Normal, data: enc(`i${i}`) };
      });
    const [prevTerm, prevIndex] = pair(kv.get('prev') ?? kv.get('last'));
    const m: Message = makeMessage({
      type: type as Message['type'],
      from,
      to,
      term: Number(term.slice(1)),
      index: prevIndex,
      logTerm: prevTerm,
      commit: Number((rest.find((w) => /^c\d+$/.test(w)) ?? 'c0').slice(1)),
      entries: ents,
      reject: rest.includes('reject'),
    });
    if (kv.has('i')) m.index = Number(kv.get('i'));
    if (type === 'Snap') {
      const [st, si] = pair(kv.get('snap'));
      const conf = this.n.core(to).status().conf;
      m.snapshot = { meta: { index: si, term: st, conf }, data: enc('[]') };
    }
    this.n.node(to).core.step(m);
    this.out.push(`> n${to} recv ${fmtMsg(m)}`);
  }

  /**
   * Pitfall 44, from the proposer's point of view: success only when the entry applied at
   * the proposal's index is the proposal itself; otherwise it failed, and until the index
   * is applied the outcome is ambiguous once leadership was lost.
   */
  private outcomes(): void {
    for (const [k, p] of this.proposals.entries()) {
      const node = this.n.node(p.node);
      const applied = node.applied.find((e) => e.index === p.index);
      const st = node.core.status();
      let res: string;
      if (applied !== undefined) {
        const same = applied.term === p.term && new TextDecoder().decode(applied.data) === p.data;
        res = same ? 'ok' : `failed (index holds ${fmtEntry(applied)})`;
      } else if (st.role === 'leader' && st.term === p.term) res = 'pending';
      else res = 'ambiguous (leadership lost before apply)';
      this.out.push(`p${k + 1} ${JSON.stringify(p.data)} at ${p.term}/${p.index} on n${p.node}: ${res}`);
    }
  }

  private raftLog(id: NodeId): void {
    const c = this.n.core(id);
    const log = c.raft.log;
    const first = log.firstIndex();
    if (first > 1) this.out.push(`snap ${log.term(first - 1)}/${first - 1}`);
    const ents = log.slice(first, log.lastIndex() + 1);
    if (ents.length === 0 && first === 1) this.out.push('empty');
    for (const e of ents) this.out.push(fmtEntry(e));
  }
}

interface Block {
  comments: string[];
  command: string;
  expected: string[];
}

export function parseGolden(src: string): { blocks: Block[]; trailing: string[] } {
  const lines = src.split('\n');
  const blocks: Block[] = [];
  let comments: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i] ?? '';
    if (l.trim() === '' || l.startsWith('#')) {
      comments.push(l);
      i++;
      continue;
    }
    if (lines[i + 1] !== '----') throw new Error(`line ${i + 2}: expected ---- after "${l}"`);
    const expected: string[] = [];
    i += 2;
    while (i < lines.length && (lines[i] ?? '') !== '') expected.push(lines[i++] ?? '');
    i++; // the blank line that ends the block
    blocks.push({ comments, command: l, expected });
    comments = [];
  }
  return { blocks, trailing: comments };
}

/** Runs a golden file; returns the file text with every expected block regenerated. */
export function runGolden(src: string): string {
  const { blocks } = parseGolden(src);
  const s = new GoldenSession();
  const parts: string[] = [];
  for (const b of blocks) {
    for (const c of b.comments) parts.push(c);
    parts.push(b.command, '----', ...s.run(b.command), '');
  }
  return `${parts.join('\n').trimEnd()}\n`;
}
