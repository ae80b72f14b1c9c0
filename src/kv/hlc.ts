import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';

/**
 * Hybrid logical clock with a leader-replicated ceiling lease.
 *
 * A timestamp is a bigint: 48-bit physical milliseconds ‖ 16-bit logical
 * counter. Issuing is `max(wall << 16, last + 1)`: the wall clock when it is
 * ahead, otherwise one more than the last stamp, so stamps strictly increase
 * even when the wall clock steps back, and a logical overflow past 0xFFFF
 * carries into the physical part by plain addition.
 *
 * Why a lease. Commit and read timestamps order MVCC versions, so no leader may
 * ever issue a stamp at or below one a predecessor issued: a read at T must not
 * later meet a write stamped below T. Observing applied entries is not enough:
 * a predecessor also handed out read stamps and stamps for proposals that never
 * committed, and a deposed leader keeps issuing until it learns of the new
 * term, while the new leader's wall clock may lag behind.
 *
 * So every leader stamp is bounded by a ceiling that travels through the log
 * (opcode 0x02, hlc-lease.ts):
 *  - every replica applies lease entries with `applyLease`, keeping the maximum
 *    (a replayed or reordered older entry never lowers it);
 *  - a leader issues only stamps whose physical part is below the ceiling it
 *    has *applied*; applied means committed, hence present in the log of every
 *    future leader;
 *  - a new leader has applied every committed entry before it serves (its
 *    term-start entry), so `becomeLeader` starts it at `ceiling << 16`, above
 *    everything any predecessor could issue, including a deposed leader that
 *    still issues: it cannot apply entries of the new term without stepping down.
 *  - to keep issuing, the leader proposes `now + leaseMs` ahead of time
 *    (`needsLeaseRenewal`); when the lease runs out anyway, `issue` throws
 *    ErrHlcLeaseExhausted and the coordinator waits for the renewal to apply.
 *
 * The price: after a leader change stamps may run up to `leaseMs` ahead of the
 * wall clock until it catches up, which a hybrid clock tolerates. Nothing needs
 * its own fsync: after a restart the ceiling comes back from the log replay and
 * from the snapshot header (encryption.md §13), which stores `ceilingMs`.
 *
 * The class is pure: the physical clock is injected and it never reads time,
 * randomness or IO by itself.
 */

export const HLC_LOGICAL_BITS = 16n;
export const HLC_MAX_LOGICAL = 0xffff;
/** Physical milliseconds fit in 48 bits (until the year 10889). */
export const HLC_MAX_PHYSICAL_MS = 2 ** 48 - 1;
const MAX_TS = (1n << 64n) - 1n;

export function hlcPack(physicalMs: number, logical: number): bigint {
  return (BigInt(physicalMs) << HLC_LOGICAL_BITS) | BigInt(logical);
}

export function hlcPhysical(ts: bigint): number {
  return Number(ts >> HLC_LOGICAL_BITS);
}

export function hlcLogical(ts: bigint): number {
  return Number(ts & 0xffffn);
}

export interface HlcOptions {
  /** Physical clock in ms since the epoch (injected; Date.now in production). */
  nowMs: () => number;
  /** How far ahead of the current physical time a proposed ceiling lies. */
  leaseMs?: number;
  /** Propose a renewal once the applied ceiling is closer than this. */
  renewWithinMs?: number;
  /** A renewal proposed but not applied after this long may be proposed again. */
  retryAfterMs?: number;
}

export class HybridLogicalClock {
  private readonly clock: () => number;
  readonly leaseMs: number;
  private readonly renewWithinMs: number;
  private readonly retryAfterMs: number;
  private last = 0n;
  private ceiling = 0;
  private leader = false;
  /** The ceiling proposed and not yet applied (0 = none), and when. */
  private proposed = 0;
  private proposedAtMs = 0;

  constructor(opts: HlcOptions) {
    this.clock = opts.nowMs;
    this.leaseMs = opts.leaseMs ?? 2000;
    this.renewWithinMs = opts.renewWithinMs ?? Math.floor(this.leaseMs / 2);
    this.retryAfterMs = opts.retryAfterMs ?? Math.max(1, Math.floor(this.renewWithinMs / 2));
    if (!(this.leaseMs > 0 && this.renewWithinMs >= 0 && this.renewWithinMs < this.leaseMs)) {
      throw sealError(Err.InvalidArgument, 'HLC lease needs leaseMs > 0 and 0 <= renewWithinMs < leaseMs', {
        leaseMs: this.leaseMs,
        renewWithinMs: this.renewWithinMs,
      });
    }
  }

  /** A fresh stamp, strictly above every stamp issued or observed so far; no lease check. */
  next(): bigint {
    this.last = this.candidate();
    return this.last;
  }

  /** Same as next(): reading the clock always issues a fresh stamp. */
  now(): bigint {
    return this.next();
  }

  /** The highest stamp issued or observed. */
  get lastTimestamp(): bigint {
    return this.last;
  }

  /** Merges a stamp seen elsewhere (an applied entry, a peer) so later stamps exceed it. */
  observe(ts: bigint): void {
    if (ts < 0n || ts > MAX_TS) {
      throw sealError(Err.InvalidArgument, 'an HLC timestamp is an unsigned 64-bit value', { ts });
    }
    if (ts > this.last) this.last = ts;
  }

  /** The highest applied lease ceiling in ms (written into snapshot headers). */
  get ceilingMs(): number {
    return this.ceiling;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** Every replica, on applying a 0x02 entry or restoring a snapshot header. */
  applyLease(ceilingMs: number): void {
    checkPhysical(ceilingMs, 'lease ceiling');
    if (ceilingMs > this.ceiling) this.ceiling = ceilingMs;
    if (this.proposed !== 0 && this.ceiling >= this.proposed) this.proposed = 0;
  }

  /**
   * Called once this node leads and has applied its term-start entry, so every
   * ceiling a predecessor could have used is applied here.
   */
  becomeLeader(): void {
    this.leader = true;
    this.proposed = 0;
    const floor = hlcPack(this.ceiling, 0);
    if (floor > this.last) this.last = floor;
  }

  stepDown(): void {
    this.leader = false;
    this.proposed = 0;
  }

  /**
   * The ceiling the leader should propose now, or undefined when the applied
   * lease still has enough room or a renewal is already in flight.
   */
  needsLeaseRenewal(nowMs: number = this.clock()): number | undefined {
    if (!this.leader) return undefined;
    const physical = Math.max(Math.floor(nowMs), hlcPhysical(this.last));
    if (this.ceiling - physical > this.renewWithinMs) return undefined;
    if (this.proposed !== 0 && nowMs - this.proposedAtMs < this.retryAfterMs) return undefined;
    // physical + leaseMs exceeds the applied ceiling: a leader's `last` is at
    // least its starting floor, and a renewal starts within renewWithinMs < leaseMs.
    const ceiling = Math.min(physical + this.leaseMs, HLC_MAX_PHYSICAL_MS);
    this.proposed = ceiling;
    this.proposedAtMs = nowMs;
    return ceiling;
  }

  /** Whether issue() would succeed right now. */
  canIssue(): boolean {
    return this.leader && hlcPhysical(this.candidate()) < this.ceiling;
  }

  /**
   * A commit or read stamp from the leader: strictly increasing and below the
   * applied ceiling. Throws ErrNotLeader, or ErrHlcLeaseExhausted when the
   * lease ran out (propose the renewal from needsLeaseRenewal, retry once applied).
   */
  issue(): bigint {
    if (!this.leader) throw sealError(Err.NotLeader, 'only the leader issues HLC timestamps');
    const ts = this.candidate();
    if (hlcPhysical(ts) >= this.ceiling) {
      throw sealError(
        Err.HlcLeaseExhausted,
        'the applied HLC lease ceiling is reached; renew the lease first',
        {
          ceilingMs: this.ceiling,
          physicalMs: hlcPhysical(ts),
        },
      );
    }
    this.last = ts;
    return ts;
  }

  private candidate(): bigint {
    const wall = Math.floor(this.clock());
    checkPhysical(wall, 'physical clock reading');
    const fromWall = hlcPack(wall, 0);
    const ts = fromWall > this.last ? fromWall : this.last + 1n;
    if (ts > MAX_TS) throw sealError(Err.InvalidArgument, 'HLC exhausted its 48-bit physical range');
    return ts;
  }
}

function checkPhysical(ms: number, what: string): void {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > HLC_MAX_PHYSICAL_MS) {
    throw sealError(Err.InvalidArgument, `${what} must be integer ms in [0, 2^48)`, { ms });
  }
}
