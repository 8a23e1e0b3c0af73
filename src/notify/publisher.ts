/**
 * The outbox's publisher: delivers committed events to the drivers, oldest first, and deletes
 * each batch once every driver has it (at least once: a batch whose confirmation was lost is sent
 * again). One process publishes at a time, the holder of the `notify` lease, so events leave in
 * the outbox's order across nodes; if it dies, its lease expires and another process (or this one
 * restarted) takes over and sends what is left. Woken after every local commit that wrote events,
 * and polling otherwise (events written on other nodes). A failing driver (broker down) never
 * reaches the API: events wait, the publisher retries with capped backoff and logs once per
 * outage. Events older than `outbox_max_age` are dropped, logged and counted.
 */
import type { HeldLease, Leases } from '../domain/leases.js';
import type { OutboxEvent, UnitOfWork } from '../domain/ports.js';
import type { NotificationDriver } from './drivers.js';

export const PUBLISHER_LEASE = 'notify';
const PUBLISHER_KEY = 'publisher';

export interface PublisherDeps {
  uow: UnitOfWork;
  leases: Leases;
  drivers: readonly NotificationDriver[];
  /** Events older than this (ms) are dropped undelivered. */
  maxAgeMs: number;
  /** `[oslo_messaging_notifications] retry`: failed attempts at one batch before it is dropped; -1 = never dropped. */
  retry: number;
  /** Where the drivers send to, for the outage log line (no passwords). */
  destination: string;
  log: { info(msg: string): void; warn(msg: string): void; error(msg: string, err?: unknown): void };
  /** Ms between looks at the outbox while holding the lease (events from other nodes). */
  pollMs?: number;
  batchSize?: number;
  /** Ceiling of the backoff between attempts while the drivers fail. */
  maxBackoffMs?: number;
  now?: () => number;
}

export interface PublisherStats {
  /** Events delivered by this process. */
  sent: number;
  /** Events this process dropped undelivered (too old, or out of retries). */
  dropped: number;
  /** Delivery passes of this process that failed (the drivers or the outbox erred). */
  failures: number;
  /** Whether this process holds the publisher lease. */
  publishing: boolean;
}

export class NotificationPublisher {
  private readonly now: () => number;
  private readonly pollMs: number;
  private readonly batchSize: number;
  private readonly maxBackoffMs: number;
  private held: HeldLease | undefined;
  private loop: Promise<void> | undefined;
  private closed = false;
  private woken = false;
  private wakeUp: (() => void) | undefined;
  /** Whether the current wait ends on a commit (only while this process holds the lease). */
  private wakeable = false;
  private backoffMs = 0;
  /** Since when delivery fails (null: it works). */
  private outageSince: number | null = null;
  /** The first event of the batch that keeps failing, and how many attempts failed. */
  private failing = { seq: -1, attempts: 0 };
  private readonly stats = { sent: 0, dropped: 0, failures: 0 };

  constructor(private readonly deps: PublisherDeps) {
    this.now = deps.now ?? Date.now;
    this.pollMs = deps.pollMs ?? 1000;
    this.batchSize = deps.batchSize ?? 100;
    this.maxBackoffMs = deps.maxBackoffMs ?? 30_000;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Events were committed: look at the outbox now (unless delivery is failing: the backoff holds). */
  wake(): void {
    this.woken = true;
    if (this.wakeable && this.outageSince === null) this.wakeUp?.();
  }

  counters(): PublisherStats {
    return { ...this.stats, publishing: this.held !== undefined && !this.held.signal.aborted };
  }

  /** Stops publishing, hands the lease on (another process takes over at once) and closes the drivers. */
  async close(): Promise<void> {
    this.closed = true;
    this.wakeUp?.();
    await this.loop;
    if (this.held) {
      this.held.stop();
      await this.deps.uow.repos.leases.release(PUBLISHER_LEASE, PUBLISHER_KEY, this.deps.leases.owner).catch(() => undefined);
    }
    for (const d of this.deps.drivers) await d.close();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      this.woken = false;
      let delay = this.pollMs;
      try {
        if (!this.held || this.held.signal.aborted) {
          this.held?.stop();
          this.held = await this.claim();
        }
        if (this.held) {
          const more = await this.pass();
          if (more && !this.closed) continue;
        } else {
          delay = this.deps.leases.heartbeatMs;
        }
      } catch (err) {
        delay = this.failed(err);
      }
      // Without the lease, commits here are another process's to send: only the heartbeat (or close) ends the wait.
      await this.sleep(delay, this.held !== undefined);
    }
  }

  /** Takes the publisher lease if it is free or its holder's has expired. */
  private async claim(): Promise<HeldLease | undefined> {
    const { uow, leases } = this.deps;
    const won = (await uow.repos.leases.acquire(leases.record(PUBLISHER_LEASE, PUBLISHER_KEY, {}))) || (await leases.reclaim(PUBLISHER_LEASE)).length > 0;
    if (!won) return undefined;
    this.deps.log.info('this process now publishes the notifications of the outbox');
    return leases.keep(PUBLISHER_LEASE, PUBLISHER_KEY, { lost: 'lost', unwanted: 'lost' });
  }

  /** One batch delivered and forgotten; true if there may be more right away. */
  private async pass(): Promise<boolean> {
    const outbox = this.deps.uow.repos.outbox;
    let batch = await outbox.oldest(this.batchSize);
    // The oldest event tells whether any is past the age limit: no extra query otherwise.
    const cutoff = this.now() - this.deps.maxAgeMs;
    if (batch.length > 0 && batch[0]!.createdAt < cutoff) {
      await this.dropOlderThan(cutoff);
      batch = await outbox.oldest(this.batchSize);
    }
    if (batch.length === 0) {
      this.recovered();
      return false;
    }
    try {
      for (const driver of this.deps.drivers) await driver.send(batch);
    } catch (err) {
      if (!this.outOfRetries(batch)) throw err;
      await outbox.remove(batch.map((e) => e.seq));
      this.stats.dropped += batch.length;
      this.deps.log.error(`dropped ${batch.length} notifications after ${this.failing.attempts} failed attempts ([oslo_messaging_notifications] retry = ${this.deps.retry})`, err);
      this.failing = { seq: -1, attempts: 0 };
      throw err;
    }
    await outbox.remove(batch.map((e) => e.seq));
    this.stats.sent += batch.length;
    this.recovered();
    return batch.length === this.batchSize;
  }

  /** Counts a failed attempt at `batch`; true once `retry` is exhausted (never with retry = -1). */
  private outOfRetries(batch: readonly OutboxEvent[]): boolean {
    const head = batch[0]!.seq;
    this.failing = head === this.failing.seq ? { seq: head, attempts: this.failing.attempts + 1 } : { seq: head, attempts: 1 };
    return this.deps.retry >= 0 && this.failing.attempts > this.deps.retry;
  }

  private async dropOlderThan(cutoff: number): Promise<void> {
    const dropped = await this.deps.uow.repos.outbox.dropOlderThan(cutoff);
    if (dropped === 0) return;
    this.stats.dropped += dropped;
    this.deps.log.warn(
      `dropped ${dropped} notifications that could not be delivered within [oslo_messaging_notifications] outbox_max_age (${Math.round(this.deps.maxAgeMs / 1000)} s); ${this.stats.dropped} dropped since this process started`,
    );
  }

  /** A failed pass: logged once per outage; the next attempt after a backoff that doubles up to its ceiling. */
  private failed(err: unknown): number {
    this.stats.failures++;
    if (this.outageSince === null) {
      this.outageSince = this.now();
      this.deps.log.error(`notifications cannot be delivered to ${this.deps.destination}; they wait in the outbox and go out once it is reachable again`, err);
    }
    this.backoffMs = Math.min(this.maxBackoffMs, Math.max(250, this.backoffMs * 2));
    return this.backoffMs;
  }

  private recovered(): void {
    this.backoffMs = 0;
    if (this.outageSince === null) return;
    this.deps.log.info(`notifications are delivered to ${this.deps.destination} again, after ${Math.round((this.now() - this.outageSince) / 1000)} s`);
    this.outageSince = null;
  }

  /** Waits `ms`, or less if `wakeable` and woken by a commit (or by close). */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.closed || (wakeable && this.woken && this.outageSince === null)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        done();
      };
      this.wakeable = wakeable;
    });
  }
}
