/**
 * Leases: how a process owns a piece of background work (an upload today; import tasks, scrub
 * passes and cache prefetches later) so that, if it dies, any other process on the same database
 * takes the work over. A lease is a row with the work's kind and key, the owner's id (random per
 * process start) and an expiry the owner keeps pushing forward by heartbeat. A lease is dead
 * when it has expired — never by guessing from a host name or a pid.
 */
import { randomUUID } from 'node:crypto';
import type { LeaseRecord, Repositories, UnitOfWork } from './ports.js';
import { noMetrics, type DomainMetrics } from './metrics-port.js';

/** A lease this process holds and keeps alive until `stop()`. */
export interface HeldLease {
  /** Aborted when the lease is lost (taken over, or released by someone else) or the work is no longer wanted. */
  readonly signal: AbortSignal;
  /** Stops the heartbeat (the lease itself is released by the caller, usually with the work's last commit). */
  stop(): void;
}

export class Leases {
  /** This process start's owner id. */
  readonly owner = randomUUID();
  /** How long a lease lives without a heartbeat: three heartbeats. */
  readonly ttlMs: number;

  constructor(
    private readonly uow: UnitOfWork,
    readonly heartbeatMs: number,
    private readonly log: (msg: string, err?: unknown) => void = () => undefined,
    private readonly now: () => number = Date.now,
    /** Counts the leases taken over from processes that let them expire. */
    private readonly metrics: DomainMetrics = noMetrics,
  ) {
    this.ttlMs = heartbeatMs * 3;
  }

  /** A new lease of this process on (kind, key), to be acquired with `tx.leases.acquire` in the transaction that starts the work. */
  record(kind: string, key: string, data: Record<string, string>): LeaseRecord {
    return { kind, key, owner: this.owner, expiresAt: this.now() + this.ttlMs, data };
  }

  /**
   * Keeps this process's lease on (kind, key) alive: renews it every heartbeat, and aborts the
   * returned signal when it is no longer ours or when `stillWanted` (checked at each heartbeat)
   * says the work is moot — with `reasons.lost` or `reasons.unwanted` as the abort reason.
   */
  keep<R>(kind: string, key: string, reasons: { lost: R; unwanted: R }, stillWanted?: (repos: Repositories) => Promise<boolean>): HeldLease {
    const control = new AbortController();
    let beating = false;
    const timer = setInterval(() => {
      if (beating || control.signal.aborted) return;
      beating = true;
      this.beat(kind, key, stillWanted)
        .then((state) => {
          if (state !== 'ok' && !control.signal.aborted) control.abort(reasons[state]);
        })
        .catch((err: unknown) => this.log(`heartbeat of ${kind} lease ${key} failed`, err))
        .finally(() => (beating = false));
    }, this.heartbeatMs);
    timer.unref();
    return { signal: control.signal, stop: () => clearInterval(timer) };
  }

  private async beat(kind: string, key: string, stillWanted?: (repos: Repositories) => Promise<boolean>): Promise<'ok' | 'lost' | 'unwanted'> {
    const repos = this.uow.repos;
    if (!(await repos.leases.renew(kind, key, this.owner, this.now() + this.ttlMs))) return 'lost';
    if (stillWanted && !(await stillWanted(repos))) return 'unwanted';
    return 'ok';
  }

  /**
   * The expired leases of `kind` this process just took over (each by one conditional update, so
   * of several processes sweeping at once exactly one wins each). The caller finishes or undoes
   * the work and releases the lease.
   */
  async reclaim(kind: string): Promise<LeaseRecord[]> {
    const repos = this.uow.repos;
    const won: LeaseRecord[] = [];
    for (const lease of await repos.leases.expired(kind, this.now())) {
      const expiresAt = this.now() + this.ttlMs;
      if (await repos.leases.takeOver(lease, this.owner, expiresAt)) won.push({ ...lease, owner: this.owner, expiresAt });
    }
    if (won.length > 0) this.metrics.leaseTakeover(kind, won.length);
    return won;
  }
}
