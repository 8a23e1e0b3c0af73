/**
 * What every store driver is built from: its options (config/store-options.ts, one table per
 * driver type) and this environment. A driver's constructor does no I/O; `init()` prepares
 * writing (creates directories, checks options) without contacting remote services, so a store
 * that is down does not stop the server from starting — its requests fail until it is back.
 */
export interface StoreEnv {
  /** The backend's id (`file` in legacy single-store mode, the enabled_backends id otherwise). */
  readonly id: string;
  readonly log: (msg: string, err?: unknown) => void;
}
