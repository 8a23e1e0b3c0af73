import { spawn, type ChildProcess } from 'node:child_process';
import { ImportPluginError } from './plugin-contract.js';

/**
 * Runs the external tools of the import plugins (qemu-img, xz) on untrusted files. A crafted
 * image can make a parser spin or allocate without bound, so, as oslo.concurrency's
 * `processutils.execute(prlimit=…)` does for Glance and Nova, the tool runs under `prlimit`
 * (util-linux) with a cap on its address space and, where the work is small, its CPU time;
 * a wall-clock timeout catches what sleeps instead of spinning, and the import's abort
 * signal kills it at once.
 */
export interface ProcessLimits {
  /** RLIMIT_AS, bytes. */
  addressSpace: number;
  /** RLIMIT_CPU, seconds; unset for work whose length grows with the image (a conversion). */
  cpuSeconds?: number;
}

export interface LimitedRun {
  limits: ProcessLimits;
  signal: AbortSignal;
  /** Kill the tool after this long (wall clock); unset = only the signal stops it. */
  timeoutMs?: number;
}

/** Starts `command` under prlimit, stdout piped, stderr piped; the caller reads both. */
export function spawnLimited(command: string, args: readonly string[], run: LimitedRun): ChildProcess {
  const limitArgs = [`--as=${run.limits.addressSpace}`];
  if (run.limits.cpuSeconds !== undefined) limitArgs.push(`--cpu=${run.limits.cpuSeconds}`);
  // LC_ALL=C: the tools' messages end up in the task's message; keep them in one language.
  // MALLOC_ARENA_MAX=2: glibc reserves 64 MiB of address space per malloc arena, up to 8 per core,
  // one for each new thread; under the address-space cap a multi-threaded tool (qemu-img's I/O
  // threads) would fail to start a thread for reservations it never uses.
  return spawn('prlimit', [...limitArgs, '--', command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', MALLOC_ARENA_MAX: '2' } });
}

export interface Finished {
  stdout: string;
  /** The last few KiB of stderr. */
  stderr: string;
}

const STDERR_KEPT = 4096;

/**
 * Waits for `child` to end; resolves with its output when it exits 0, rejects with an
 * ImportPluginError naming `what` otherwise, with the abort reason when the signal fired,
 * and kills it on timeout or abort. `maxStdout` bounds what is kept of stdout (a tool that
 * prints more is killed: its answer is not one we can trust). With `collectStdout` false
 * the caller consumes stdout itself.
 */
export function finished(
  child: ChildProcess,
  what: string,
  run: LimitedRun,
  opts: { collectStdout: boolean; maxStdout?: number; /** Paths to leave out of messages (they end up in the task's message, shown to users). */ hide?: readonly string[] },
): Promise<Finished> {
  return new Promise<Finished>((resolve, reject) => {
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = Buffer.alloc(0);
    let failure: Error | null = null;
    let timer: NodeJS.Timeout | undefined;
    const kill = (why: Error) => {
      failure ??= why;
      child.kill('SIGKILL');
    };
    const onAbort = () => kill(run.signal.reason instanceof Error ? run.signal.reason : new DOMException('The import was aborted', 'AbortError'));
    if (run.signal.aborted) onAbort();
    else run.signal.addEventListener('abort', onAbort, { once: true });
    if (run.timeoutMs !== undefined) timer = setTimeout(() => kill(new ImportPluginError(`${what} did not finish within ${run.timeoutMs! / 1000} s`)), run.timeoutMs);
    if (opts.collectStdout) {
      const max = opts.maxStdout ?? 1 << 20;
      child.stdout!.on('data', (chunk: Buffer) => {
        outBytes += chunk.length;
        if (outBytes > max) kill(new ImportPluginError(`${what} printed more than ${max} bytes`));
        else out.push(chunk);
      });
    }
    child.stderr!.on('data', (chunk: Buffer) => {
      err = Buffer.concat([err, chunk]);
      if (err.length > STDERR_KEPT) err = err.subarray(err.length - STDERR_KEPT);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      failure ??= e.code === 'ENOENT' ? new ImportPluginError(`cannot run ${what}: prlimit (util-linux) is not installed`) : e;
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      run.signal.removeEventListener('abort', onAbort);
      if (failure) return reject(failure);
      let stderr = err.toString('utf8').trim();
      for (const p of opts.hide ?? []) stderr = stderr.split(p).join('<image>');
      if (code === 0) return resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr });
      // prlimit answers 127 (exec failed) when the tool itself is missing.
      if (code === 127) return reject(new ImportPluginError(`cannot run ${what}: ${stderr || 'command not found'}`));
      const how = sig ? `was killed by ${sig}${sig === 'SIGXCPU' || sig === 'SIGKILL' ? ' (resource limit)' : ''}` : `failed (exit ${code})`;
      reject(new ImportPluginError(`${what} ${how}${stderr ? `: ${stderr}` : ''}`));
    });
  });
}
