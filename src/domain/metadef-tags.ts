/**
 * The tags of a metadefs namespace (Glance's TagsController): a page of them, replacing them all
 * (or adding to them with `X-Openstack-Append`), creating one from its URL, show, rename, delete.
 */
import type { RequestContext } from '../auth/context.js';
import { Forbidden, NotFound } from './errors.js';
import { deletedFields, tagPayload } from './metadef-events.js';
import { checkedBody } from './metadef-input.js';
import type { NamespaceRecord, SortDir, TagRecord, TagSortKey } from './metadef-model.js';
import { duplicateTag, MetadefService } from './metadef-service.js';

const READ_ONLY = ['created_at', 'updated_at'];

const tagNotFound = (name: string, ns: string) => new NotFound(`The metadata definition tag with name=${name} was not found in namespace=${ns}.`);

export interface TagListParams {
  limit?: number;
  /** The name of the tag the page starts after. */
  marker?: string;
  sortKey: TagSortKey;
  sortDir: SortDir;
}

export class MetadefTags extends MetadefService {
  async list(ctx: RequestContext, namespace: string, p: TagListParams): Promise<TagRecord[]> {
    const ns = await this.access.namespace(this.repo, ctx, namespace, 'get_metadef_tags');
    let marker: TagRecord | undefined;
    if (p.marker !== undefined) {
      marker = await this.repo.findTag(ns.id, p.marker);
      if (!marker) throw tagNotFound(p.marker, ns.namespace);
    }
    return this.repo.tags(ns.id, { sortKey: p.sortKey, sortDir: p.sortDir, limit: p.limit, marker });
  }

  private async find(ctx: RequestContext, namespace: string, name: string, rule: string): Promise<{ namespace: NamespaceRecord; tag: TagRecord }> {
    const ns = await this.access.namespace(this.repo, ctx, namespace, rule);
    const tag = await this.repo.findTag(ns.id, name);
    if (!tag) throw tagNotFound(name, ns.namespace);
    return { namespace: ns, tag };
  }

  async show(ctx: RequestContext, namespace: string, name: string): Promise<TagRecord> {
    return (await this.find(ctx, namespace, name, 'get_metadef_tag')).tag;
  }

  /** Replaces every tag of the namespace with these (`append`: adds them); an empty list changes nothing. */
  async createMany(ctx: RequestContext, namespace: string, body: unknown, append: boolean): Promise<string[]> {
    const checked = checkedBody(body, READ_ONLY, this.bodies.tagList);
    const names = ((checked.tags ?? []) as { name: string }[]).map((t) => t.name);
    const ns = await this.access.namespace(this.repo, ctx, namespace, 'add_metadef_tags');
    if (names.length === 0) return [];
    await this.uow.run(async (tx) => {
      if (!append) await tx.metadefs.deleteTags(ns.id);
      const now = this.now();
      for (const name of names) {
        const tag = await tx.metadefs.insertTag(ns.id, name, now);
        if (tag === 'duplicate') throw duplicateTag(name, ns.namespace);
        await this.notifier.metadef(tx, 'metadef_tag.create', () => tagPayload(ns.namespace, tag));
      }
    });
    return names;
  }

  async create(ctx: RequestContext, namespace: string, name: string): Promise<TagRecord> {
    const ns = await this.access.namespace(this.repo, ctx, namespace, 'get_metadef_namespace');
    this.bodies.tag.validate({ name });
    this.access.enforce(ctx, 'add_metadef_tag', ns);
    return this.uow.run(async (tx) => {
      const tag = await tx.metadefs.insertTag(ns.id, name, this.now());
      if (tag === 'duplicate') throw duplicateTag(name, ns.namespace);
      await this.notifier.metadef(tx, 'metadef_tag.create', () => tagPayload(ns.namespace, tag));
      return tag;
    });
  }

  async update(ctx: RequestContext, namespace: string, name: string, body: unknown): Promise<TagRecord> {
    const newName = checkedBody(body, READ_ONLY, this.bodies.tag).name as string;
    const { namespace: ns, tag } = await this.find(ctx, namespace, name, 'modify_metadef_tag');
    return this.uow.run(async (tx) => {
      const updated = await tx.metadefs.updateTag(tag.id, newName, this.now());
      if (updated === 'duplicate') throw duplicateTag(newName, ns.namespace);
      if (updated === 'absent') throw tagNotFound(name, ns.namespace);
      await this.notifier.metadef(tx, 'metadef_tag.update', () => tagPayload(ns.namespace, updated, name));
      return updated;
    });
  }

  async remove(ctx: RequestContext, namespace: string, name: string): Promise<void> {
    const { namespace: ns, tag } = await this.find(ctx, namespace, name, 'delete_metadef_tag');
    if (ns.protected) throw new Forbidden(`Metadata definition tag ${tag.name} is protected and cannot be deleted.`);
    await this.uow.run(async (tx) => {
      if (!(await tx.metadefs.deleteTag(tag.id))) throw tagNotFound(name, ns.namespace);
      await this.notifier.metadef(tx, 'metadef_tag.delete', () => ({ ...tagPayload(ns.namespace, tag), ...deletedFields(this.now()) }));
    });
  }
}

