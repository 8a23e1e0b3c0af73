/**
 * Orphaned data: objects a store holds that no image owns any more — bytes a crash left between
 * a write's commit and the recording of its location, staged data of imports that died, copies
 * nobody recorded. `ocellus scrub --orphans` finds them (and, unless it is a dry run, removes
 * them). An object is an orphan only if all of these hold:
 * - no location in any status but `deleted` names it (checked before and again after listing the store);
 * - it is older than the grace period (a write that just committed is about to record its location);
 * - the image it was written for is not being written (saving, uploading, importing, or holding
 *   an import lock): its upload, staging or import owns it;
 * - its key is an image id (a store may hold other things: they are not ours to judge).
 * Only stores that can list their objects are searched (file — the staging area too —, s3, swift).
 */
import type { Backend, StoreRegistry } from '../store/registry.js';
import type { ListedObject } from '../store/blob-store.js';
import { deleteIfPresent } from '../store/blob-store.js';
import type { ImageStatus } from './image-model.js';
import type { UnitOfWork } from './ports.js';

/** Objects are written under image ids; anything else in a store (another tool's, Glance's DLO segments `<id>-00001`) is not ours to judge. */
const IMAGE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Locations read per query when collecting what is referenced. */
const PAGE = 1000;
/** Statuses of an image whose data is being written (its lease or its task owns the objects). */
const WRITING: readonly ImageStatus[] = ['saving', 'uploading', 'importing'];

export interface Orphan extends ListedObject {
  /** The backend id of the store holding it. */
  backend: string;
}

export interface OrphanRemoval {
  removed: Orphan[];
  failures: { orphan: Orphan; error: string }[];
}

export class OrphanData {
  private readonly now: () => number;

  constructor(
    private readonly deps: {
      uow: UnitOfWork;
      stores: StoreRegistry;
      /** Objects younger than this are never orphans. */
      graceMs: number;
      log: (msg: string, err?: unknown) => void;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
  }

  /** The orphans of every store that can list its objects. */
  async find(): Promise<Orphan[]> {
    const listable = this.deps.stores.all().filter((b) => b.store.listing !== undefined);
    const before = await this.referenced(listable);
    const cutoff = this.now() - this.deps.graceMs;
    const candidates: Orphan[] = [];
    for (const backend of listable) {
      const kept = before.get(backend.id)!;
      for await (const obj of backend.store.listing!.list()) {
        if (IMAGE_ID.test(obj.key) && !kept.has(obj.name) && obj.modifiedAt <= cutoff) candidates.push({ ...obj, backend: backend.id });
      }
    }
    // A location recorded while the stores were listed (a restore, an import finishing) saves its object.
    const after = await this.referenced(listable);
    const orphans: Orphan[] = [];
    const writing = new Map<string, boolean>();
    for (const c of candidates) {
      if (after.get(c.backend)!.has(c.name)) continue;
      let busy = writing.get(c.key);
      if (busy === undefined) {
        busy = await this.beingWritten(c.key);
        writing.set(c.key, busy);
      }
      if (!busy) orphans.push(c);
    }
    return orphans;
  }

  /** Removes the given orphans (as `find` returned them); a failure is reported and the rest go on. */
  async remove(orphans: readonly Orphan[]): Promise<OrphanRemoval> {
    const result: OrphanRemoval = { removed: [], failures: [] };
    for (const orphan of orphans) {
      const backend = this.deps.stores.get(orphan.backend);
      try {
        if (!backend) throw new Error(`no store '${orphan.backend}'`);
        await deleteIfPresent(backend.store, orphan.url);
        result.removed.push(orphan);
      } catch (err) {
        result.failures.push({ orphan, error: err instanceof Error ? err.message : String(err) });
        this.deps.log(`could not remove the orphaned object ${orphan.url}`, err);
      }
    }
    return result;
  }

  /** Per backend id, the names of the objects some kept location names. */
  private async referenced(backends: readonly Backend[]): Promise<Map<string, Set<string>>> {
    const names = new Map(backends.map((b) => [b.id, new Set<string>()]));
    let after: string | null = null;
    for (;;) {
      const page = await this.deps.uow.repos.images.keptLocations(after, PAGE);
      for (const loc of page) {
        // Every store is asked, not only the one the location records: an object is kept if anything names it.
        for (const b of backends) {
          const name = b.store.listing!.nameOf(loc.url);
          if (name !== undefined) names.get(b.id)!.add(name);
        }
      }
      if (page.length < PAGE) return names;
      after = page[page.length - 1]!.id;
    }
  }

  /** Whether the image an object was written for is being written now (or its write died and awaits the sweep). */
  private async beingWritten(imageId: string): Promise<boolean> {
    const found = await this.deps.uow.repos.images.find(imageId);
    if (!found) return false;
    return WRITING.includes(found.image.status) || found.image.properties.os_glance_import_task !== undefined;
  }
}
