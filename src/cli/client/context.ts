/**
 * What a client command runs with: the SDK client (made from clouds.yaml / OS_* only when a
 * command first needs it), its output options, the signal Ctrl-C aborts, and clean-ups to run when
 * it does (e.g. removing a partial download).
 */
import { ImageClient } from '../../sdk/index.js';
import { parseFormat, type OutputOptions } from './output.js';

export interface ClientContext {
  client(): ImageClient;
  out: OutputOptions;
  /** Aborted on Ctrl-C (SIGINT). */
  signal: AbortSignal;
  /** Run once if the command is interrupted. */
  onInterrupt(cleanup: () => void): void;
}

export interface ContextSource {
  signal: AbortSignal;
  onInterrupt(cleanup: () => void): void;
}

/** The context for a command's parsed common options. */
export function contextFor(values: { format?: string; column?: string[]; 'os-cloud'?: string }, source: ContextSource): ClientContext {
  const out: OutputOptions = { format: parseFormat(values.format), columns: values.column ?? [] };
  let made: ImageClient | undefined;
  return {
    out,
    signal: source.signal,
    onInterrupt: source.onInterrupt,
    client: () => (made ??= ImageClient.fromEnvironment({ cloud: values['os-cloud'], userAgent: 'ocellus-client' })),
  };
}
