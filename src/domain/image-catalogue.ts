/** Reading the catalogue: one image, or a page of images, as the caller may see them. */
import type { RequestContext } from '../auth/context.js';
import { BadRequest } from './errors.js';
import { visibleTo, type ImageAccess } from './image-access.js';
import type { ImageLocations } from './image-locations.js';
import { defaultFilters, type ImageFilters, type ImageRecord, type SortDir, type SortKey } from './image-model.js';
import type { ImageRepository } from './ports.js';

export interface ListRequest {
  filters?: ImageFilters;
  limit: number;
  marker?: string;
  sort: { key: SortKey; dir: SortDir }[];
}

export class ImageCatalogue {
  constructor(
    private readonly images: ImageRepository,
    private readonly access: ImageAccess,
    /** Absent: no view shows locations, and lists do not read them. */
    private readonly locations?: ImageLocations,
  ) {}

  /** The image if the caller may see it (404 otherwise), with the properties and locations it may read. */
  async get(ctx: RequestContext, id: string): Promise<ImageRecord> {
    const visible = await this.access.find(ctx, id);
    const image = this.access.readable(ctx, visible.image);
    return this.locations ? this.locations.shown(ctx, visible, image) : image;
  }

  async list(ctx: RequestContext, req: ListRequest): Promise<{ images: ImageRecord[]; nextMarker?: string }> {
    this.access.enforce(ctx, 'get_images', { project_id: ctx.projectId });
    let marker: ImageRecord | null = null;
    if (req.marker !== undefined) {
      const found = await this.images.find(req.marker, ctx.projectId);
      if (!found || !visibleTo(ctx, found)) throw new BadRequest(`Invalid marker. Image ${req.marker} could not be found.`);
      marker = found.image;
    }
    const sort = [...req.sort];
    // Glance appends created_at then id as tie-breakers, in the first direction given.
    const dir = sort[0]?.dir ?? 'desc';
    for (const key of ['created_at', 'id'] as const) if (!sort.some((s) => s.key === key)) sort.push({ key, dir });
    const images = await this.images.list({
      // Admins too: their own project's community images stay in their default list (Glance's
      // community filter keeps images owned by the caller's project).
      viewerProject: ctx.projectId,
      isAdmin: ctx.isAdmin,
      filters: req.filters ?? defaultFilters(),
      sort,
      limit: req.limit,
      marker,
      // In the same query, and only when a view shows them.
      withLocations: this.locations?.shownInViews ?? false,
    });
    const last = images[images.length - 1];
    // Each image is then checked against get_image, as Glance does; the next page starts after
    // the last image read, shown or not.
    const shown = images.filter((image) => this.access.listed(ctx, image));
    const { locations } = this;
    const readable = shown.map((image) => this.access.readable(ctx, image));
    return { images: locations ? readable.map((image) => locations.shownInList(ctx, image)) : readable, nextMarker: last && images.length === req.limit ? last.id : undefined };
  }
}
