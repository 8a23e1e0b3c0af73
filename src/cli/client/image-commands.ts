/**
 * `ocellus image list|show|create|upload|download|update|unset|delete|stage|import`: the images
 * of the Image API through the SDK, with the options of `openstack image …` where it has them.
 * Uploads and downloads stream (a file, or stdin/stdout with `--file -` / no --file), show a
 * progress bar on a terminal, and stop on Ctrl-C (a partial download file is removed).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Image, ImportRequest, NewImage, PatchOperation, Visibility } from '../../sdk/index.js';
import type { ClientContext } from './context.js';
import { printList, printOne, type Column } from './output.js';
import { progressBar } from './progress.js';
import { CommandError, integer, positionals, properties, UsageError, COMMON_OPTIONS_HELP } from './usage.js';

export const IMAGE_USAGE = `Usage: ocellus image <action> [options]

Actions:
  list     [--public|--private|--shared|--community] [--status S] [--name N] [--tag T]... [--property K=V]... [--limit N] [--long]
  show     IMAGE
  create   NAME [--id ID] [--disk-format F] [--container-format F] [--file PATH|-] [--store S] [--property K=V]... [--tag T]...
           [--public|--private|--shared|--community] [--protected|--unprotected] [--min-disk GB] [--min-ram MB]
  upload   IMAGE --file PATH|- [--store S]            upload the data of a queued image
  download IMAGE [--file PATH]                        (or: save) the data, to PATH or stdout
  update   IMAGE [--name N] [--disk-format F] [--container-format F] [--property K=V]... [--tag T]...
           [--public|--private|--shared|--community] [--protected|--unprotected] [--min-disk GB] [--min-ram MB]
           [--deactivate|--activate]                  (or: set)
  unset    IMAGE [--property K]... [--tag T]...
  delete   IMAGE...
  stage    IMAGE --file PATH|-                        stage data for the glance-direct import
  import   IMAGE [--method glance-direct|web-download|copy-image] [--uri URI] [--store S]... [--all-stores]
           [--allow-failure] [--wait]

IMAGE is an image ID or a name that only one image has.
${COMMON_OPTIONS_HELP}
`;

const LIST_COLUMNS: Column[] = [
  { heading: 'ID', field: 'id' },
  { heading: 'Name', field: 'name' },
  { heading: 'Status', field: 'status' },
];
const LONG_COLUMNS: Column[] = [
  ...LIST_COLUMNS,
  { heading: 'Disk Format', field: 'disk_format' },
  { heading: 'Container Format', field: 'container_format' },
  { heading: 'Size', field: 'size' },
  { heading: 'Checksum', field: 'checksum' },
  { heading: 'Visibility', field: 'visibility' },
  { heading: 'Protected', field: 'protected' },
  { heading: 'Project', field: 'owner' },
  { heading: 'Tags', field: 'tags' },
];

const VISIBILITY = {
  public: { type: 'boolean' },
  private: { type: 'boolean' },
  shared: { type: 'boolean' },
  community: { type: 'boolean' },
} as const;

const FIELDS = {
  'disk-format': { type: 'string' },
  'container-format': { type: 'string' },
  property: { type: 'string', multiple: true },
  tag: { type: 'string', multiple: true },
  ...VISIBILITY,
  protected: { type: 'boolean' },
  unprotected: { type: 'boolean' },
  'min-disk': { type: 'string' },
  'min-ram': { type: 'string' },
} as const;

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** The image an argument names: an ID as is, else the one image with that name. */
export async function imageId(ctx: ClientContext, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref;
  const found: Image[] = [];
  for await (const image of ctx.client().images.list({ name: ref })) found.push(image);
  if (found.length === 1) return found[0]!.id;
  if (found.length === 0) throw new CommandError(`No image with a name or ID of '${ref}' exists.`);
  throw new CommandError(`More than one image is named '${ref}' (${found.map((i) => i.id).join(', ')}); use an ID.`);
}

function visibility(values: Partial<Record<keyof typeof VISIBILITY, boolean>>): Visibility | undefined {
  const chosen = (Object.keys(VISIBILITY) as Visibility[]).filter((v) => values[v]);
  if (chosen.length > 1) throw new UsageError(`choose one of --${chosen.join(', --')}`);
  return chosen[0];
}

function protection(values: { protected?: boolean; unprotected?: boolean }): boolean | undefined {
  if (values.protected && values.unprotected) throw new UsageError('choose one of --protected, --unprotected');
  return values.protected ? true : values.unprotected ? false : undefined;
}

type FieldValues = { [K in keyof typeof FIELDS]?: (typeof FIELDS)[K] extends { multiple: true } ? string[] : (typeof FIELDS)[K] extends { type: 'boolean' } ? boolean : string };

/** The image fields the shared options set (only those given). */
function fieldsOf(values: FieldValues & { name?: string }): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    name: values.name,
    disk_format: values['disk-format'],
    container_format: values['container-format'],
    visibility: visibility(values),
    protected: protection(values),
    min_disk: integer('min-disk', values['min-disk']),
    min_ram: integer('min-ram', values['min-ram']),
    ...properties(values.property),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** The data source of `--file`: a file, or stdin for "-". */
function dataFrom(file: string): { path: string } | NodeJS.ReadStream {
  if (file !== '-') {
    if (!fs.existsSync(file)) throw new UsageError(`--file: no such file: ${file}`);
    return { path: file };
  }
  if (process.stdin.isTTY) throw new UsageError('--file -: stdin is a terminal, not image data');
  return process.stdin;
}

async function upload(ctx: ClientContext, id: string, file: string, opts: { store?: string; stage?: boolean }): Promise<void> {
  const bar = progressBar(opts.stage ? 'Staging' : 'Uploading');
  const options = { onProgress: bar.update, store: opts.store, signal: ctx.signal };
  try {
    const data = dataFrom(file);
    if (opts.stage) await ctx.client().images.stage(id, data, options);
    else await ctx.client().images.upload(id, data, options);
  } finally {
    bar.finish();
  }
}

async function download(ctx: ClientContext, id: string, file: string | undefined): Promise<void> {
  if (file === undefined && process.stdout.isTTY) throw new UsageError('refusing to write image data to a terminal: give --file PATH, or redirect stdout');
  const bar = progressBar('Downloading');
  let partial: string | undefined;
  const removePartial = () => {
    if (partial !== undefined) fs.rmSync(partial, { force: true });
    partial = undefined;
  };
  ctx.onInterrupt(removePartial);
  try {
    const data = await ctx.client().images.download(id, { onProgress: bar.update, signal: ctx.signal });
    if (!data) throw new CommandError(`Image ${id} has no data.`);
    const md5 = crypto.createHash('md5');
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, done) {
        md5.update(chunk);
        done(null, chunk);
      },
    });
    if (file !== undefined) partial = file;
    await pipeline(data.stream, hashing, file === undefined ? process.stdout : fs.createWriteStream(file), { signal: ctx.signal });
    const sum = md5.digest('hex');
    if (data.checksum && data.checksum !== sum) throw new CommandError(`Image ${id}: the data's MD5 ${sum} is not the checksum the API sent (${data.checksum}).`);
    partial = undefined;
  } catch (err) {
    removePartial();
    throw err;
  } finally {
    bar.finish();
  }
}

export async function imageCommand(ctx: ClientContext, action: string, values: Record<string, unknown>, args: string[]): Promise<number> {
  const images = () => ctx.client().images;
  switch (action) {
    case 'list': {
      const v = values as FieldValues & { status?: string; name?: string; limit?: string; long?: boolean };
      const filters: Record<string, string | string[] | undefined> = { visibility: visibility(v), status: v.status, name: v.name, tag: v.tag, ...properties(v.property) };
      const limit = integer('limit', v.limit);
      const rows: Image[] = [];
      if (limit !== 0) {
        for await (const image of images().list({ ...filters, limit })) {
          rows.push(image);
          if (limit !== undefined && rows.length >= limit) break;
        }
      }
      printList(ctx.out, v.long ? LONG_COLUMNS : LIST_COLUMNS, rows as unknown as Record<string, unknown>[]);
      return 0;
    }
    case 'show': {
      const [ref] = positionals(args, ['image']);
      printOne(ctx.out, (await images().get(await imageId(ctx, ref!))) as unknown as Record<string, unknown>);
      return 0;
    }
    case 'create': {
      const [name] = positionals(args, ['name']);
      const v = values as FieldValues & { id?: string; file?: string; store?: string };
      const fields: NewImage = { ...fieldsOf({ ...v, name }), ...(v.id ? { id: v.id } : {}), ...(v.tag ? { tags: v.tag } : {}) };
      if (v.file !== undefined) dataFrom(v.file); // a bad --file is a usage error before anything is created
      const image = await images().create(fields);
      if (v.file !== undefined) {
        try {
          await upload(ctx, image.id, v.file, { store: v.store });
        } catch (err) {
          if (!ctx.signal.aborted) process.stderr.write(`ocellus: image ${image.id} was created, but its upload failed\n`);
          throw err;
        }
      }
      printOne(ctx.out, (await images().get(image.id)) as unknown as Record<string, unknown>);
      return 0;
    }
    case 'upload':
    case 'stage': {
      const [ref] = positionals(args, ['image']);
      const v = values as { file?: string; store?: string };
      if (v.file === undefined) throw new UsageError('--file PATH (or - for stdin) is required');
      await upload(ctx, await imageId(ctx, ref!), v.file, { store: v.store, stage: action === 'stage' });
      return 0;
    }
    case 'download':
    case 'save': {
      const [ref] = positionals(args, ['image']);
      await download(ctx, await imageId(ctx, ref!), (values as { file?: string }).file);
      return 0;
    }
    case 'update':
    case 'set': {
      const [ref] = positionals(args, ['image']);
      const v = values as FieldValues & { name?: string; deactivate?: boolean; activate?: boolean };
      if (v.deactivate && v.activate) throw new UsageError('choose one of --deactivate, --activate');
      const fields = fieldsOf(v);
      const id = await imageId(ctx, ref!);
      if (Object.keys(fields).length > 0) await images().setProperties(id, fields);
      for (const tag of v.tag ?? []) await images().addTag(id, tag);
      if (v.deactivate) await images().deactivate(id);
      if (v.activate) await images().reactivate(id);
      return 0;
    }
    case 'unset': {
      const [ref] = positionals(args, ['image']);
      const v = values as { property?: string[]; tag?: string[] };
      const id = await imageId(ctx, ref!);
      const image = await images().get(id);
      const missing = (v.property ?? []).filter((k) => !(k in image));
      if (missing.length > 0) throw new CommandError(`Image ${id} has no property ${missing.join(', ')}.`);
      const ops: PatchOperation[] = (v.property ?? []).map((k) => ({ op: 'remove', path: `/${k}` }));
      if (ops.length > 0) await images().update(id, ops);
      for (const tag of v.tag ?? []) await images().removeTag(id, tag);
      return 0;
    }
    case 'delete': {
      const refs = positionals(args, Array(Math.max(args.length, 1)).fill('image'), 1);
      let failed = 0;
      for (const ref of refs) {
        try {
          await images().delete(await imageId(ctx, ref));
        } catch (err) {
          if (ctx.signal.aborted) throw err;
          failed++;
          process.stderr.write(`ocellus: image ${ref}: ${(err as Error).message}\n`);
        }
      }
      if (failed > 0) throw new CommandError(`${failed} of ${refs.length} image(s) could not be deleted.`);
      return 0;
    }
    case 'import': {
      const [ref] = positionals(args, ['image']);
      const v = values as { method?: string; uri?: string; store?: string[]; 'all-stores'?: boolean; 'allow-failure'?: boolean; wait?: boolean };
      const name = v.method ?? 'glance-direct';
      let method: ImportRequest['method'];
      if (name === 'web-download') {
        if (!v.uri) throw new UsageError('--method web-download needs --uri URI');
        method = { name, uri: v.uri };
      } else if (name === 'glance-direct' || name === 'copy-image') {
        if (v.uri) throw new UsageError(`--uri is only for --method web-download`);
        method = { name };
      } else throw new UsageError(`--method: expected glance-direct, web-download or copy-image, not '${name}'`);
      const request: ImportRequest = { method };
      if (v.store) request.stores = v.store;
      if (v['all-stores']) request.all_stores = true;
      if (v['allow-failure'] !== undefined) request.all_stores_must_succeed = !v['allow-failure'];
      const id = await imageId(ctx, ref!);
      await images().import(id, request);
      const image = v.wait ? await waitForImport(ctx, id) : await images().get(id);
      printOne(ctx.out, image as unknown as Record<string, unknown>);
      return 0;
    }
    default:
      throw new UsageError(`unknown image action '${action}'\n\n${IMAGE_USAGE}`);
  }
}

/** Polls until the import ends: active, or an error naming the task's message when it failed. */
async function waitForImport(ctx: ClientContext, id: string): Promise<Image> {
  for (;;) {
    const image = await ctx.client().images.get(id);
    if (image.status === 'active') return image;
    const tasks = await ctx.client().images.tasks(id);
    const failed = tasks.find((t) => t.status === 'failure');
    if (image.status === 'killed' || (failed && image.status !== 'importing')) {
      throw new CommandError(`Import of image ${id} failed (image ${image.status})${failed?.message ? `: ${failed.message}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (ctx.signal.aborted) throw ctx.signal.reason;
  }
}

const UPDATE_OPTIONS = { ...FIELDS, name: { type: 'string' }, deactivate: { type: 'boolean' }, activate: { type: 'boolean' } } as const;

/** Each image action's own options (the common ones are added by the parser). */
export const IMAGE_OPTIONS = {
  list: { ...VISIBILITY, status: { type: 'string' }, name: { type: 'string' }, tag: { type: 'string', multiple: true }, property: { type: 'string', multiple: true }, limit: { type: 'string' }, long: { type: 'boolean' } },
  show: {},
  create: { ...FIELDS, id: { type: 'string' }, file: { type: 'string' }, store: { type: 'string' } },
  upload: { file: { type: 'string' }, store: { type: 'string' } },
  stage: { file: { type: 'string' } },
  download: { file: { type: 'string' } },
  save: { file: { type: 'string' } },
  update: UPDATE_OPTIONS,
  set: UPDATE_OPTIONS,
  unset: { property: { type: 'string', multiple: true }, tag: { type: 'string', multiple: true } },
  delete: {},
  import: { method: { type: 'string' }, uri: { type: 'string' }, store: { type: 'string', multiple: true }, 'all-stores': { type: 'boolean' }, 'allow-failure': { type: 'boolean' }, wait: { type: 'boolean' } },
} as const;
