/**
 * `ocellus member create|list|show|set|delete` (an image's members: the projects it is shared
 * with) and `ocellus task list|show` (import and other asynchronous tasks), through the SDK.
 */
import type { MemberStatus } from '../../sdk/index.js';
import type { ClientContext } from './context.js';
import { imageId } from './image-commands.js';
import { printList, printOne, type Column } from './output.js';
import { integer, positionals, UsageError, COMMON_OPTIONS_HELP } from './usage.js';

export const MEMBER_USAGE = `Usage: ocellus member <action> [options]

Actions:
  list    IMAGE
  create  IMAGE PROJECT                          share the image with the project
  show    IMAGE PROJECT
  set     IMAGE PROJECT --accept|--reject|--pending   (as the member project)
  delete  IMAGE PROJECT

${COMMON_OPTIONS_HELP}
`;

export const TASK_USAGE = `Usage: ocellus task <action> [options]

Actions:
  list  [--type T] [--status S] [--limit N]
  show  TASK

${COMMON_OPTIONS_HELP}
`;

const MEMBER_COLUMNS: Column[] = [
  { heading: 'Image ID', field: 'image_id' },
  { heading: 'Member ID', field: 'member_id' },
  { heading: 'Status', field: 'status' },
];

const TASK_COLUMNS: Column[] = [
  { heading: 'ID', field: 'id' },
  { heading: 'Type', field: 'type' },
  { heading: 'Status', field: 'status' },
  { heading: 'Owner', field: 'owner' },
];

export const MEMBER_OPTIONS = {
  list: {},
  create: {},
  show: {},
  set: { accept: { type: 'boolean' }, reject: { type: 'boolean' }, pending: { type: 'boolean' } },
  delete: {},
} as const;

export const TASK_OPTIONS = {
  list: { type: { type: 'string' }, status: { type: 'string' }, limit: { type: 'string' } },
  show: {},
} as const;

export async function memberCommand(ctx: ClientContext, action: string, values: Record<string, unknown>, args: string[]): Promise<number> {
  const members = () => ctx.client().members;
  if (action === 'list') {
    const [ref] = positionals(args, ['image']);
    printList(ctx.out, MEMBER_COLUMNS, (await members().list(await imageId(ctx, ref!))) as unknown as Record<string, unknown>[]);
    return 0;
  }
  const [ref, project] = positionals(args, ['image', 'project']);
  const chosen = (['accept', 'reject', 'pending'] as const).filter((s) => values[s]);
  if (action === 'set' && chosen.length !== 1) throw new UsageError('give one of --accept, --reject, --pending');
  const id = await imageId(ctx, ref!);
  switch (action) {
    case 'create':
      printOne(ctx.out, (await members().add(id, project!)) as unknown as Record<string, unknown>);
      return 0;
    case 'show':
      printOne(ctx.out, (await members().get(id, project!)) as unknown as Record<string, unknown>);
      return 0;
    case 'set': {
      const status: MemberStatus = chosen[0] === 'accept' ? 'accepted' : chosen[0] === 'reject' ? 'rejected' : 'pending';
      printOne(ctx.out, (await members().setStatus(id, project!, status)) as unknown as Record<string, unknown>);
      return 0;
    }
    default: // 'delete' (run.ts lets through only the actions of MEMBER_OPTIONS)
      await members().remove(id, project!);
      return 0;
  }
}

export async function taskCommand(ctx: ClientContext, action: string, values: Record<string, unknown>, args: string[]): Promise<number> {
  switch (action) {
    case 'list': {
      positionals(args, []);
      const v = values as { type?: string; status?: string; limit?: string };
      const limit = integer('limit', v.limit);
      const rows: Record<string, unknown>[] = [];
      if (limit !== 0) {
        for await (const task of ctx.client().tasks.list({ type: v.type, status: v.status, limit })) {
          rows.push(task as unknown as Record<string, unknown>);
          if (limit !== undefined && rows.length >= limit) break;
        }
      }
      printList(ctx.out, TASK_COLUMNS, rows);
      return 0;
    }
    case 'show': {
      const [id] = positionals(args, ['task']);
      printOne(ctx.out, (await ctx.client().tasks.get(id!)) as unknown as Record<string, unknown>);
      return 0;
    }
    default:
      throw new UsageError(`unknown task action '${action}'\n\n${TASK_USAGE}`);
  }
}
