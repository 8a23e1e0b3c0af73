import { Conflict } from './errors.js';
export const IMAGE_STATUSES = ['queued', 'saving', 'active', 'killed', 'deleted', 'uploading', 'importing', 'pending_delete', 'deactivated'];
/** Glance's image status machine: from → allowed next statuses. */
const TRANSITIONS = {
    queued: ['saving', 'uploading', 'importing', 'active', 'deleted'],
    saving: ['active', 'killed', 'deleted', 'queued'],
    uploading: ['importing', 'queued', 'deleted'],
    importing: ['active', 'deleted', 'queued'],
    active: ['pending_delete', 'deleted', 'deactivated'],
    deactivated: ['active', 'deleted'],
    killed: ['deleted'],
    pending_delete: ['deleted', 'active'],
    deleted: [],
};
export function canTransition(from, to) {
    return (TRANSITIONS[from] ?? []).includes(to);
}
export function assertTransition(from, to) {
    if (!canTransition(from, to))
        throw new Conflict(`Image status transition from ${from} to ${to} is not allowed`);
}
//# sourceMappingURL=image-lifecycle.js.map