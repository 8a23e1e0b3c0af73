/**
 * The scrubber (Glance's glance-scrubber): removes the data of images that delayed delete left in
 * `pending_delete` once scrub_time has passed, and brings one back with `restore`. Any number of
 * scrubbers (on any nodes) may run at once: each image is claimed with a `scrub` lease in the
 * transaction that moves it to `deleted` and dooms its locations, so one scrubber removes it;
 * removals that fail stay doomed and are retried by the next pass (or the API's cleanup sweep).
 */
import type { DataCleanup } from './data-cleanup.js';
import { SCRUB_LEASE } from './data-cleanup.js';
import { Conflict, NotFound } from './errors.js';
import type { LocationRecord } from './image-model.js';
import { plan } from './image-lifecycle.js';
import type { Leases } from './leases.js';
import type { UnitOfWork } from './ports.js';

/** How many images one look-up of the queue brings. */
const PAGE = 100;

/** A location whose bytes could not be removed: it stays doomed and is tried again. */
export interface ScrubFailure {
  imageId: string;
  /** The location's URL ('' when the image could not be worked on at all). */
  url: string;
  error: string;
}

/** What one pass did. */
export interface ScrubReport {
  /** Images moved from pending_delete to deleted by this pass. */
  scrubbed: string[];
  /** Locations whose bytes this pass removed (and forgot), scrubbed images' and retried ones'. */
  removed: number;
  failures: ScrubFailure[];
}

export interface ScrubberDeps {
  uow: UnitOfWork;
  leases: Leases;
  cleanup: DataCleanup;
  /** [DEFAULT] scrub_time, in ms. */
  scrubTimeMs: number;
  /** [DEFAULT] scrub_pool_size: images worked on at once. */
  poolSize: number;
  log: (msg: string, err?: unknown) => void;
  now?: () => number;
}

export class Scrubber {
  private readonly now: () => number;

  constructor(private readonly deps: ScrubberDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * One pass: first the images of scrubbers that died (their expired leases), then removals an
   * earlier pass could not finish, then every image pending_delete for scrub_time or longer.
   */
  async run(): Promise<ScrubReport> {
    const report: ScrubReport = { scrubbed: [], removed: 0, failures: [] };
    const { uow, leases } = this.deps;
    const reclaimed = (await leases.reclaim(SCRUB_LEASE)).map((l) => l.key);
    await this.inPool(reclaimed, report, (id) => this.finish(id, report));

    // Doomed locations nobody is removing: the failures of earlier passes (and deletions the API left).
    const retried = new Set<string>();
    for (;;) {
      const doomed = await uow.repos.images.doomedLocations(PAGE, { kind: SCRUB_LEASE, now: this.now() });
      const ids = [...new Set(doomed.map((l) => l.imageId))].filter((id) => !retried.has(id));
      if (ids.length === 0) break;
      for (const id of ids) retried.add(id);
      await this.inPool(ids, report, async (id) => {
        if (await this.claim(id, false)) await this.finish(id, report);
      });
    }

    const seen = new Set<string>();
    for (;;) {
      const due = (await uow.repos.images.pendingDeletes(this.now() - this.deps.scrubTimeMs, PAGE)).filter((id) => !seen.has(id));
      if (due.length === 0) break;
      for (const id of due) seen.add(id);
      await this.inPool(due, report, async (id) => {
        if (!(await this.claim(id, true))) return;
        report.scrubbed.push(id);
        this.deps.log(`scrubbing image ${id}`);
        await this.finish(id, report);
      });
    }
    return report;
  }

  /**
   * `scrub --restore`: a pending_delete image becomes active again, with the locations it kept.
   * Conflict if the image is live (not pending_delete); NotFound if there is no pending_delete
   * image with that id (never deleted, or a scrubber took it first).
   */
  async restore(id: string): Promise<void> {
    const { uow } = this.deps;
    const step = plan('restore', { status: 'pending_delete' })!;
    if (await uow.repos.images.transition(id, step.from, step.to, step.resets, this.now())) return;
    const live = await uow.repos.images.find(id);
    if (live) throw new Conflict(`cannot restore the image from ${live.image.status} to active (wanted from_state=pending_delete)`);
    throw new NotFound(`No pending_delete image with ID ${id} (none was ever deleted with that ID, or a scrubber removed its data already)`);
  }

  /**
   * Takes the image's scrub lease; with `scrub`, in the transaction that moves it from
   * pending_delete to deleted and dooms its locations (so a restore and another scrubber lose).
   */
  private async claim(id: string, scrub: boolean): Promise<boolean> {
    const { uow, leases } = this.deps;
    const step = scrub ? plan('scrub', { status: 'pending_delete' }) : null;
    const now = this.now();
    return uow
      .run(async (tx) => {
        if (!(await tx.leases.acquire(leases.record(SCRUB_LEASE, id, {})))) throw new LostRace();
        if (step) {
          if (!(await tx.images.transition(id, step.from, step.to, step.resets, now))) throw new LostRace();
          await tx.images.doomLocations(id, now);
        }
        return true;
      })
      .catch((err: unknown) => {
        if (err instanceof LostRace) return false;
        throw err;
      });
  }

  /** Removes the bytes of the image's doomed locations under its lease (kept alive meanwhile), then ends the lease. */
  private async finish(id: string, report: ScrubReport): Promise<void> {
    const { uow, leases, cleanup, log } = this.deps;
    const held = leases.keep(SCRUB_LEASE, id, { lost: 'lost', unwanted: 'lost' });
    try {
      // Read under the lease: what another scrubber already removed is forgotten by now.
      const doomed: LocationRecord[] = await uow.repos.images.doomedLocationsOf(id);
      for (const loc of doomed) {
        if (held.signal.aborted) break;
        try {
          await cleanup.removeLocation(loc);
          report.removed++;
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          report.failures.push({ imageId: id, url: loc.url, error });
          log(`could not remove the data of image ${id} at ${loc.url}; the next pass tries again`, err);
        }
      }
    } finally {
      held.stop();
      await uow.repos.leases.release(SCRUB_LEASE, id, leases.owner);
    }
  }

  /** Runs `work` on every id, scrub_pool_size at a time; a failure of one (the database's) is reported, the others go on. */
  private async inPool(ids: readonly string[], report: ScrubReport, work: (id: string) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        await work(id).catch((err: unknown) => {
          report.failures.push({ imageId: id, url: '', error: err instanceof Error ? err.message : String(err) });
          this.deps.log(`scrubbing image ${id} failed; the next pass tries again`, err);
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.deps.poolSize, ids.length) }, worker));
  }
}

/** Another scrubber holds the image, or it left pending_delete before the claim committed (a restore or another scrubber came first). */
class LostRace extends Error {}
