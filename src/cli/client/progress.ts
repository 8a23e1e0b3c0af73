/**
 * The progress bar of uploads and downloads: bytes moved, percentage, rate and time left, redrawn
 * on one stderr line — only when stderr is a terminal; elsewhere (a pipe, a log) nothing at all.
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function humanBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${UNITS[u]}`;
}

function clock(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const two = (x: number) => String(x).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

/**
 * One line of progress, at most `columns - 1` characters: "label [####----]  42%  1.2 MiB / 3.0 MiB
 * 5.1 MiB/s  ETA 0:03" (the bar as wide as fits, left out when it does not; bytes and rate alone
 * when the total is unknown).
 */
export function progressLine(label: string, moved: number, total: number | null, elapsedMs: number, columns = 80): string {
  const rate = elapsedMs > 0 ? (moved * 1000) / elapsedMs : 0;
  const rateText = `${humanBytes(Math.round(rate))}/s`;
  if (total === null || total <= 0) return `${label}  ${humanBytes(moved)}  ${rateText}`.slice(0, columns - 1);
  const fraction = Math.min(1, moved / total);
  const eta = rate > 0 ? clock((total - moved) / rate) : '--:--';
  // Padded so that the bar keeps its width as the numbers change.
  const numbers = `${String(Math.floor(fraction * 100)).padStart(3)}%  ${humanBytes(moved).padStart(humanBytes(total).length)} / ${humanBytes(total)}  ${rateText.padStart(12)}  ETA ${eta}`;
  const width = Math.min(30, columns - 1 - label.length - numbers.length - 4);
  if (width < 5) return `${label} ${numbers}`.slice(0, columns - 1);
  const filled = Math.round(fraction * width);
  return `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${numbers}`;
}

export interface Progress {
  /** The SDK's progress callback. */
  update(moved: number, total: number | null): void;
  /** Draws the last state and ends the line (once). */
  finish(): void;
}

/** A progress bar on stderr when it is a TTY (redrawn at most every 100 ms), else one that does nothing. */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update: () => undefined, finish: () => undefined };
  const started = Date.now();
  let last = 0;
  let moved = 0;
  let total: number | null = null;
  let drawn = false;
  let done = false;
  const draw = () => {
    stream.write(`\r${progressLine(label, moved, total, Date.now() - started, stream.columns || 80)}\x1b[K`);
    drawn = true;
  };
  return {
    update(m, t) {
      moved = m;
      total = t;
      const now = Date.now();
      if (now - last >= 100) {
        last = now;
        draw();
      }
    },
    finish() {
      if (done) return;
      done = true;
      if (drawn || moved > 0) {
        draw();
        stream.write('\n');
      }
    },
  };
}
