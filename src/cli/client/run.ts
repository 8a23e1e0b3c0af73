/**
 * The entry of the client commands (`ocellus image|member|task …`): parses the command line, runs
 * the action, and turns the outcome into an exit code scripts can rely on — 0 done, 1 the API (or
 * the request) failed (the API's message on stderr), 2 a usage or configuration error, 130
 * interrupted by Ctrl-C (the transfer aborted, clean-ups such as removing a partial download done).
 */
import { CertificateError, ConfigurationError, ImageApiError } from '../../sdk/index.js';
import { contextFor } from './context.js';
import { IMAGE_OPTIONS, IMAGE_USAGE, imageCommand } from './image-commands.js';
import { MEMBER_OPTIONS, MEMBER_USAGE, memberCommand, TASK_OPTIONS, TASK_USAGE, taskCommand } from './member-task-commands.js';
import { CommandError, parse, UsageError } from './usage.js';

export const CLIENT_COMMANDS = ['image', 'member', 'task'] as const;
export type ClientCommand = (typeof CLIENT_COMMANDS)[number];

const GROUPS = {
  image: { usage: IMAGE_USAGE, options: IMAGE_OPTIONS as Record<string, object>, run: imageCommand },
  member: { usage: MEMBER_USAGE, options: MEMBER_OPTIONS as Record<string, object>, run: memberCommand },
  task: { usage: TASK_USAGE, options: TASK_OPTIONS as Record<string, object>, run: taskCommand },
};

/** How long an interrupted command may take to settle (abort its request, close its file) before exiting. */
const INTERRUPT_GRACE_MS = 2000;

function fail(code: number, message: string): number {
  process.stderr.write(`ocellus: ${message}\n`);
  return code;
}

/** Runs `ocellus <group> <action> …`; resolves to the exit code. */
export async function clientCommand(group: ClientCommand, argv: string[]): Promise<number> {
  const { usage, options, run } = GROUPS[group];
  const [action, ...rest] = argv;
  if (action === undefined || action === '-h' || action === '--help' || action === 'help') {
    process.stdout.write(usage);
    return action === undefined ? 2 : 0;
  }
  const controller = new AbortController();
  const cleanups: (() => void)[] = [];
  const interrupted = new Promise<'interrupted'>((resolve) => controller.signal.addEventListener('abort', () => resolve('interrupted'), { once: true }));
  const onSigint = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  const work = (async () => {
    if (!Object.hasOwn(options, action)) throw new UsageError(`unknown ${group} action '${action}'\n\n${usage}`);
    const { values, positionals } = parse(rest, options[action] as Record<string, never>);
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const ctx = contextFor(values, { signal: controller.signal, onInterrupt: (c) => cleanups.push(c) });
    return run(ctx, action, values, positionals);
  })();
  try {
    const first = await Promise.race([work, interrupted]);
    if (first !== 'interrupted') return first;
    await Promise.race([work.catch(() => undefined), new Promise((r) => setTimeout(r, INTERRUPT_GRACE_MS).unref())]);
    for (const cleanup of cleanups) cleanup();
    return fail(130, 'interrupted');
  } catch (err) {
    if (controller.signal.aborted) {
      for (const cleanup of cleanups) cleanup();
      return fail(130, 'interrupted');
    }
    if (err instanceof UsageError) return fail(2, `${err.message}${err.message.includes('Usage:') ? '' : `\n(see 'ocellus ${group} --help')`}`);
    if (err instanceof ConfigurationError) return fail(2, err.message);
    if (err instanceof ImageApiError) return fail(1, `${err.message} (HTTP ${err.status}${err.requestId ? `, request ${err.requestId}` : ''})`);
    if (err instanceof CommandError || err instanceof CertificateError) return fail(1, err.message);
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return fail(1, process.env.OCELLUS_DEBUG ? ((err as Error).stack ?? String(err)) : `${(err as Error).message ?? String(err)}${cause ? `: ${cause}` : ''}`);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
