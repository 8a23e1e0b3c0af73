import { randomUUID } from 'node:crypto';
import { BlobNotFound } from '../store/blob-store.js';
import { assertCanModify, canSee, notFound } from './image-access.js';
import { BadRequest, Conflict, Forbidden } from './errors.js';
import { baseAttributes, SchemaValidator } from './image-schema.js';
/** Attributes the server computes; sending them is 403 `read-only` (Glance's list). */
const READ_ONLY_ON_CREATE = ['created_at', 'updated_at', 'status', 'checksum', 'size', 'virtual_size', 'os_hash_algo', 'os_hash_value', 'direct_url', 'self', 'file', 'schema', 'stores'];
const READ_ONLY_ON_PATCH = new Set([...READ_ONLY_ON_CREATE, 'id']);
/** Names no user may set as custom properties. */
const RESERVED = new Set(['location', 'deleted', 'deleted_at', 'locations']);
const isReserved = (key) => RESERVED.has(key) || key.startsWith('os_glance');
export const SORT_KEYS = ['name', 'status', 'container_format', 'disk_format', 'size', 'id', 'created_at', 'updated_at'];
/** Image metadata operations: each reads top to bottom, calling access checks, repository and store explicitly. */
export class ImageService {
    deps;
    validator;
    base;
    now;
    log;
    constructor(deps) {
        this.deps = deps;
        this.validator = new SchemaValidator(deps.schema);
        this.base = baseAttributes(deps.schema);
        this.now = deps.now ?? Date.now;
        this.log = deps.log ?? (() => undefined);
    }
    /** The image if the caller may see it, else 404 (Glance never reveals invisible images). */
    async get(ctx, id) {
        const image = await this.deps.repo.get(id);
        if (!image || !canSee(ctx, image))
            throw notFound(id);
        return image;
    }
    async create(ctx, body) {
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
            throw new BadRequest('Unexpected body type. Expected a JSON object.');
        }
        const doc = body;
        for (const key of READ_ONLY_ON_CREATE) {
            if (key in doc)
                throw new Forbidden(`Attribute '${key}' is read-only.`);
        }
        this.validator.validate(doc);
        for (const key of Object.keys(doc)) {
            if (isReserved(key))
                throw new Forbidden(`Attribute '${key}' is reserved.`);
            if (key.length > 255)
                throw new BadRequest(`Property name '${key.slice(0, 40)}…' is longer than 255 characters.`);
        }
        const owner = doc.owner === undefined ? ctx.projectId : doc.owner;
        if (!ctx.isAdmin && owner !== ctx.projectId) {
            throw new Forbidden(`You are not permitted to create images owned by '${String(owner)}'.`);
        }
        const visibility = doc.visibility ?? 'shared';
        this.checkVisibilityChange(ctx, visibility);
        for (const k of ['min_ram', 'min_disk']) {
            if (typeof doc[k] === 'number' && doc[k] < 0)
                throw new BadRequest(`${k} must be a non-negative integer.`);
        }
        const now = this.now();
        const properties = {};
        for (const [k, v] of Object.entries(doc)) {
            if (!this.base.has(k))
                properties[k] = v === null ? '' : String(v);
        }
        const image = {
            id: doc.id?.toLowerCase() ?? randomUUID(),
            name: doc.name ?? null,
            status: 'queued',
            visibility,
            protected: doc.protected ?? false,
            os_hidden: doc.os_hidden ?? false,
            checksum: null,
            os_hash_algo: null,
            os_hash_value: null,
            owner,
            size: null,
            virtual_size: null,
            min_disk: doc.min_disk ?? 0,
            min_ram: doc.min_ram ?? 0,
            container_format: doc.container_format ?? null,
            disk_format: doc.disk_format ?? null,
            created_at: now,
            updated_at: now,
            deleted_at: null,
            tags: [...new Set(doc.tags ?? [])],
            properties,
            locations: [],
        };
        if (!(await this.deps.repo.insert(image)))
            throw new Conflict(`An image with identifier ${image.id} already exists`);
        return image;
    }
    async list(ctx, req) {
        let marker = null;
        if (req.marker !== undefined) {
            const m = await this.deps.repo.get(req.marker);
            if (!m || !canSee(ctx, m))
                throw new BadRequest(`Invalid marker. Image ${req.marker} could not be found.`);
            marker = m;
        }
        const sort = [...req.sort];
        // Glance appends created_at then id as tie-breakers, in the first direction given.
        const dir = sort[0]?.dir ?? 'desc';
        for (const key of ['created_at', 'id'])
            if (!sort.some((s) => s.key === key))
                sort.push({ key, dir });
        const images = await this.deps.repo.list({
            viewerProject: ctx.isAdmin ? null : ctx.projectId,
            isAdmin: ctx.isAdmin,
            sort,
            limit: req.limit,
            marker,
        });
        const last = images[images.length - 1];
        return { images, nextMarker: last && images.length === req.limit ? last.id : undefined };
    }
    async update(ctx, id, ops) {
        const image = await this.get(ctx, id);
        assertCanModify(ctx, image, 'modify');
        const next = { ...image, tags: [...image.tags], properties: { ...image.properties } };
        for (const op of ops)
            this.applyOp(ctx, next, op);
        next.updated_at = this.now();
        if (!(await this.deps.repo.save(next, image.status))) {
            throw new Conflict(`Image ${id} was changed by another request while being updated; retry.`);
        }
        return next;
    }
    applyOp(ctx, image, op) {
        const [root, ...rest] = op.path;
        if (root === undefined || root === '')
            throw new BadRequest(`Invalid JSON pointer for this resource: '/${op.path.join('/')}'`);
        if (root === 'locations') {
            throw new Forbidden(`It's not allowed to ${op.op === 'remove' ? 'remove' : 'add'} locations if locations are invisible.`);
        }
        if (rest.length > 0)
            throw new BadRequest(`Invalid JSON pointer for this resource: '/${op.path.join('/')}'`);
        if (READ_ONLY_ON_PATCH.has(root))
            throw new Forbidden(`Attribute '${root}' is read-only.`);
        if (isReserved(root))
            throw new Forbidden(`Attribute '${root}' is reserved.`);
        if (root.length > 255)
            throw new BadRequest(`Property name '${root.slice(0, 40)}…' is longer than 255 characters.`);
        const isBase = this.base.has(root);
        if (op.op === 'remove') {
            if (isBase)
                throw new Forbidden(`Attribute '${root}' may not be removed.`);
            if (!(root in image.properties))
                throw new Conflict(`Property ${root} does not exist.`);
            delete image.properties[root];
            return;
        }
        this.validator.validate({ [root]: op.value });
        const record = image;
        const coreColumn = isBase && root in record;
        if (!coreColumn) {
            const exists = root in image.properties;
            if (op.op === 'replace' && !exists)
                throw new Conflict(`Property ${root} does not exist.`);
            if (op.op === 'add' && exists && op.style === 'v2.0')
                throw new Conflict(`Property ${root} already present.`);
            image.properties[root] = op.value === null ? '' : String(op.value);
            return;
        }
        switch (root) {
            case 'owner':
                if (!ctx.isAdmin && op.value !== image.owner)
                    throw new Forbidden("Owner can't be updated by non admin.");
                break;
            case 'visibility':
                this.checkVisibilityChange(ctx, op.value);
                break;
            case 'disk_format':
            case 'container_format':
                if (image.status !== 'queued' && image.status !== 'importing' && op.value !== record[root]) {
                    throw new Forbidden(`Attribute ${root} can be only replaced for a queued image.`);
                }
                break;
            case 'min_ram':
            case 'min_disk':
                if (op.value < 0)
                    throw new BadRequest(`${root} must be a non-negative integer.`);
                break;
            case 'tags':
                image.tags = [...new Set(op.value)];
                return;
        }
        record[root] = op.value;
    }
    checkVisibilityChange(ctx, visibility) {
        if (visibility === 'public' && !ctx.isAdmin) {
            throw new Forbidden('You are not authorized to complete publicize_image action.');
        }
    }
    async delete(ctx, id) {
        for (;;) {
            const image = await this.get(ctx, id);
            assertCanModify(ctx, image, 'delete');
            if (image.protected)
                throw new Forbidden(`Image ${id} is protected and cannot be deleted.`);
            const locations = await this.deps.repo.markDeleted(id, image.status, this.now());
            // Lost a race with a status change (an upload finishing, say): look again.
            if (locations === undefined)
                continue;
            for (const loc of locations) {
                const key = this.deps.store.keyOf(loc.url);
                if (key === undefined)
                    continue;
                await this.deps.store.delete(key).catch((err) => {
                    if (!(err instanceof BlobNotFound))
                        this.log(`could not delete data of image ${id} at ${loc.url}`, err);
                });
            }
            return;
        }
    }
    async deactivate(ctx, id) {
        await this.toggleActive(ctx, id, 'active', 'deactivated', 'deactivate');
    }
    async reactivate(ctx, id) {
        await this.toggleActive(ctx, id, 'deactivated', 'active', 'reactivate');
    }
    async toggleActive(ctx, id, from, to, action) {
        const image = await this.get(ctx, id);
        assertCanModify(ctx, image, action);
        if (image.status === to)
            return;
        if (image.status !== from)
            throw new Forbidden(`Not allowed to ${action} image in status '${image.status}'`);
        if (!(await this.deps.repo.setStatus(id, [from], to, this.now()))) {
            throw new Conflict(`Image ${id} changed status while being ${action}d; retry.`);
        }
    }
}
//# sourceMappingURL=image-service.js.map