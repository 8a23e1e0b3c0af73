import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DomainError } from '../src/domain/errors.js';
import { ACTIONS, IMAGE_STATUSES, plan, TRANSITIONS, type ImageAction, type ImageStatus } from '../src/domain/image-lifecycle.js';

/**
 * The status machine against the reference (shared/reference/image-model.md §4), written out
 * here independently of the code: for every action, what it does in each of the nine statuses —
 * a status to move to, `stay` (succeeds, no change), or the HTTP status of the refusal.
 */
type Outcome = ImageStatus | 'stay' | 400 | 403 | 409;
const ALL = IMAGE_STATUSES;
function expect(moves: Partial<Record<ImageStatus, Outcome>>, otherwise: 400 | 403 | 409): Record<ImageStatus, Outcome> {
  return Object.fromEntries(ALL.map((s) => [s, moves[s] ?? otherwise])) as Record<ImageStatus, Outcome>;
}
const VISIBLE_TO_DELETED = { queued: 'deleted', saving: 'deleted', uploading: 'deleted', importing: 'deleted', active: 'deleted', deactivated: 'deleted', killed: 'deleted' } as const;

const REFERENCE: Record<ImageAction, Record<ImageStatus, Outcome>> = {
  upload: expect({ queued: 'saving' }, 409), // PUT /file: queued only, else 409
  finish_upload: expect({ saving: 'active' }, 409),
  abandon_upload: expect({ saving: 'queued' }, 409),
  stage: expect({ queued: 'uploading' }, 409), // PUT /stage: queued only, else 409
  abandon_stage: expect({ uploading: 'queued' }, 409),
  import_staged: expect({ uploading: 'importing' }, 409), // glance-direct: uploading only
  import_remote: expect({ queued: 'importing' }, 409), // web-download, glance-download: queued only
  copy_image: expect({ active: 'stay' }, 409), // copy-image: active only, stays active
  finish_import: expect({ importing: 'active' }, 409),
  fail_import: expect({ importing: 'queued' }, 409),
  add_location: expect({ queued: 'active', active: 'stay' }, 409), // PATCH locations add/replace: queued, active
  set_formats: expect({ queued: 'stay', importing: 'stay' }, 403), // PATCH disk/container_format: queued, importing, else 403
  deactivate: expect({ active: 'deactivated', deactivated: 'stay' }, 403),
  reactivate: expect({ deactivated: 'active', active: 'stay' }, 403),
  delete: expect(VISIBLE_TO_DELETED, 409), // any visible status → deleted
  delayed_delete: expect({ active: 'pending_delete' }, 400), // only from active; else 400
  scrub: expect({ pending_delete: 'deleted' }, 409),
  restore: expect({ pending_delete: 'active' }, 409),
};

const FORMATS = { disk_format: 'raw', container_format: 'bare' };

describe('the image status machine', () => {
  test('the status graph is the reference table', () => {
    assert.deepEqual(TRANSITIONS, {
      queued: ['saving', 'uploading', 'importing', 'active', 'deleted'],
      saving: ['active', 'killed', 'deleted', 'queued'],
      uploading: ['importing', 'queued', 'deleted'],
      importing: ['active', 'deleted', 'queued'],
      active: ['pending_delete', 'deleted', 'deactivated'],
      deactivated: ['active', 'deleted'],
      killed: ['deleted'],
      pending_delete: ['deleted', 'active'],
      deleted: [],
    });
  });

  test('every action of the table is one the reference lists, and the reference lists every action', () => {
    assert.deepEqual(Object.keys(ACTIONS).sort(), Object.keys(REFERENCE).sort());
  });

  for (const action of Object.keys(REFERENCE) as ImageAction[]) {
    for (const status of ALL) {
      const expected = REFERENCE[action][status];
      test(`${action} in ${status} → ${expected}`, () => {
        let outcome: Outcome;
        try {
          const step = plan(action, { status, ...FORMATS });
          outcome = step === null ? 'stay' : step.to;
          if (step) {
            assert.equal(step.from, status);
            assert.ok(TRANSITIONS[status].includes(step.to), `${status} → ${step.to} is in the graph`);
          }
        } catch (err) {
          assert.ok(err instanceof DomainError, `a refusal is a DomainError, not ${String(err)}`);
          assert.ok(err.message.length > 0);
          outcome = err.status as 400 | 403 | 409;
        }
        assert.equal(outcome, expected);
      });
    }
  }

  test('leaving queued or uploading for saving, active or importing needs both formats (400)', () => {
    for (const [action, status] of [['upload', 'queued'], ['import_remote', 'queued'], ['import_staged', 'uploading'], ['add_location', 'queued']] as const) {
      for (const formats of [{}, { disk_format: 'raw' }, { container_format: 'bare' }]) {
        assert.throws(() => plan(action, { status, ...formats }), (err: DomainError) => err.status === 400 && /must be set prior to saving data/.test(err.message));
      }
      assert.notEqual(plan(action, { status, ...FORMATS }), null);
    }
  });

  test('entering queued clears the data facts; other steps reset nothing', () => {
    assert.deepEqual(plan('abandon_upload', { status: 'saving' })?.resets, { size: null, virtual_size: null, checksum: null, os_hash_algo: null, os_hash_value: null });
    assert.deepEqual(plan('upload', { status: 'queued', ...FORMATS })?.resets, {});
  });

  test("set_formats' refusal names the attribute, as Glance's does", () => {
    assert.throws(() => plan('set_formats', { status: 'active' }, 'container_format'), /^Error: Attribute container_format can be only replaced for a queued image\.$|Attribute container_format can be only replaced for a queued image\./);
  });
});
