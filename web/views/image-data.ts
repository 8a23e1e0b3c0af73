/**
 * An image's data: a file streamed from the browser (PUT /file, with a progress bar, bytes, rate
 * and time left, and Cancel), a URL the server downloads (web-download), or a file staged then
 * imported (glance-direct); only the import methods the server offers, and a store choice where
 * several exist. After the bytes, it follows the image's status and its import task until active.
 */
import { uploadBlob } from '../../src/sdk/browser-upload.js';
import type { Image, Store, Task } from '../../src/sdk/types.js';
import { app, describeError, errorSlot, noticeUnauthorized, showError } from '../app.js';
import { badge, field, h, replace, uid } from '../dom.js';
import { formatBytes, formatDuration, formatRate } from '../format.js';

export type DataMethod = 'file' | 'web-download' | 'glance-direct' | 'none';

export interface DataPanel {
  element: HTMLElement;
  /** null when the choices are complete, else what is missing (shown by the caller). */
  validate(): string | null;
  /** Sends the data to `image`: true when the image became active (or nothing was asked). */
  start(image: Image): Promise<boolean>;
  /** An upload is running. */
  busy(): boolean;
}

const LABELS: Record<DataMethod, string> = {
  file: 'Upload a file from this computer',
  'web-download': 'Import from a URL (web-download)',
  'glance-direct': 'Stage a file, then import it (glance-direct)',
  none: 'No data now (the image stays queued)',
};

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/** Follows progress: a sliding window of (time, bytes) for the rate. */
class Meter {
  private samples: [number, number][] = [];
  private readonly started = performance.now();
  rate(loaded: number): number {
    const now = performance.now();
    this.samples.push([now, loaded]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > 3000) this.samples.shift();
    const [t0, b0] = this.samples[0]!;
    const dt = (now - t0) / 1000;
    if (dt < 0.2) return loaded / Math.max((now - this.started) / 1000, 0.001);
    return (loaded - b0) / dt;
  }
}

/**
 * The panel. With `image`: its own Start button (on a queued image's page); without, the caller
 * (the create form) calls start() on submit.
 */
export function dataPanel(signal: AbortSignal, opts: { image?: Image; allowNone?: boolean; onActive?: (image: Image) => void } = {}): DataPanel {
  const group = uid('method');
  const radios = h('div', { class: 'methods', role: 'radiogroup', 'aria-label': 'Where the data comes from' });
  const fileInput = h('input', { type: 'file', name: 'file' });
  const urlInput = h('input', { type: 'url', name: 'uri', placeholder: 'https://example.com/images/disk.qcow2' });
  const storeSelect = h('select', { name: 'store' });
  const storeField = field('Store', storeSelect, 'Where the data is kept.');
  storeField.hidden = true;
  const fileField = field('File', fileInput);
  const urlField = field('URL', urlInput, 'The server downloads it; the task shows how it goes.');
  const alert = errorSlot();
  const progress = h('progress', { max: 100, value: 0 });
  const progressText = h('span', { class: 'progress-text' });
  const cancel = h('button', { type: 'button', class: 'danger', 'data-while-busy': true }, 'Cancel upload');
  const progressBox = h('div', { class: 'progress-box', hidden: true, 'aria-live': 'polite' }, progress, progressText, cancel);
  const statusBox = h('div', { class: 'status-box', hidden: true, 'aria-live': 'polite' });
  const startButton = opts.image ? h('button', { type: 'button', class: 'primary' }, 'Start') : null;

  let running: AbortController | null = null;
  let method: DataMethod = 'file';

  const addRadio = (m: DataMethod) => {
    const id = uid('m');
    radios.append(
      h(
        'div',
        { class: 'radio' },
        h('input', { type: 'radio', name: group, id, value: m, checked: m === method, onchange: () => choose(m) }),
        h('label', { for: id }, LABELS[m]),
      ),
    );
  };
  const choose = (m: DataMethod) => {
    method = m;
    fileField.hidden = !(m === 'file' || m === 'glance-direct');
    urlField.hidden = m !== 'web-download';
    storeField.hidden = m === 'none' || storeSelect.options.length < 2;
  };

  const element = h('fieldset', { class: 'data-panel' }, h('legend', {}, 'Image data'), radios, fileField, urlField, storeField, progressBox, statusBox, alert, startButton);
  addRadio('file');
  choose('file');

  // What the server offers: import methods and stores (a 404 without multiple stores: no choice).
  void (async () => {
    try {
      const offered = await app.client.images.importMethods();
      for (const m of ['web-download', 'glance-direct'] as const) if (offered.includes(m)) addRadio(m);
    } catch {
      // Imports not offered to this caller: uploads only.
    }
    if (opts.allowNone) addRadio('none');
    let stores: Store[] = [];
    try {
      stores = await app.client.stores.list();
    } catch {
      stores = [];
    }
    // Data goes to stores that take writes (Glance marks the others "read-only": "true").
    stores = stores.filter((st) => !(st as Store & { 'read-only'?: unknown })['read-only']);
    if (stores.length > 1) {
      for (const s of stores) storeSelect.append(h('option', { value: s.id, selected: !!s.default }, `${s.id}${s.description ? ` — ${s.description}` : ''}${s.default ? ' (default)' : ''}`));
      choose(method);
    }
  })();

  const validate = (): string | null => {
    if ((method === 'file' || method === 'glance-direct') && !fileInput.files?.length) return 'Choose a file to upload.';
    if (method === 'web-download') {
      if (!urlInput.value.trim()) return 'Give the URL to import from.';
      if (!urlInput.checkValidity()) return 'The URL is not valid.';
    }
    return null;
  };

  const showStatus = (image: Image | null, task: Task | null, note?: string) => {
    statusBox.hidden = false;
    replace(statusBox,
      image ? h('p', {}, 'Image: ', badge(image.status), image.size !== null ? ` ${formatBytes(image.size)}` : '') : null,
      task ? h('p', { class: 'task' }, `Task ${task.type}: `, badge(task.status), task.message ? ` ${task.message}` : '') : null,
      note ? h('p', { class: 'muted' }, note) : null,
    );
  };

  /** Polls the image (and its newest task) until it is active, killed, or the task failed. */
  const follow = async (id: string, withTasks: boolean): Promise<boolean> => {
    for (;;) {
      if (signal.aborted) return false;
      const image = await app.client.images.get(id);
      let task: Task | null = null;
      if (withTasks) {
        try {
          const tasks = await app.client.images.tasks(id);
          task = tasks.sort((a, b) => b.created_at.localeCompare(a.created_at))[0] ?? null;
        } catch {
          task = null; // not allowed to see tasks: the image's status alone
        }
      }
      showStatus(image, task, image.status === 'active' ? undefined : 'Waiting for the image to become active…');
      if (image.status === 'active') {
        opts.onActive?.(image);
        return true;
      }
      if (image.status === 'killed') throw new Error('The image was killed: its data could not be stored.');
      if (task?.status === 'failure') throw new Error(`The import failed: ${task.message || 'no reason given'}`);
      if (image.status === 'queued' && task === null && !withTasks) throw new Error('The data did not arrive: the image is still queued.');
      await sleep(1000, signal);
    }
  };

  const upload = async (image: Image, target: 'file' | 'stage'): Promise<void> => {
    const file = fileInput.files![0]!;
    running = new AbortController();
    const abortOnLeave = () => running?.abort(new DOMException('The upload was cancelled.', 'AbortError'));
    signal.addEventListener('abort', abortOnLeave, { once: true });
    cancel.onclick = () => running?.abort(new DOMException('The upload was cancelled.', 'AbortError'));
    progressBox.hidden = false;
    progress.max = file.size || 1;
    progress.value = 0;
    const meter = new Meter();
    const started = performance.now();
    progressText.textContent = `0 of ${formatBytes(file.size)}`;
    try {
      await uploadBlob(app.client, image.id, file, target, {
        signal: running.signal,
        store: storeField.hidden ? undefined : storeSelect.value || undefined,
        onProgress: (loaded, total) => {
          const size = total ?? file.size;
          const rate = meter.rate(loaded);
          progress.value = loaded;
          const pct = size > 0 ? Math.floor((loaded / size) * 100) : 100;
          const left = rate > 0 ? formatDuration((size - loaded) / rate) : '—';
          progressText.textContent =
            loaded >= size ? `${formatBytes(loaded)} of ${formatBytes(size)} (100%) sent · the server is storing it…` : `${formatBytes(loaded)} of ${formatBytes(size)} (${pct}%) · ${formatRate(rate)} · ${left} left`;
        },
      });
      progress.value = progress.max;
      const secs = (performance.now() - started) / 1000;
      progressText.textContent = `${formatBytes(file.size)} of ${formatBytes(file.size)} (100%) · done in ${formatDuration(secs)} (${formatRate(file.size / Math.max(secs, 0.001))})`;
    } finally {
      signal.removeEventListener('abort', abortOnLeave);
      cancel.hidden = true;
      running = null;
    }
  };

  const start = async (image: Image): Promise<boolean> => {
    showError(alert, null);
    const problem = validate();
    if (problem) {
      showError(alert, problem);
      return false;
    }
    cancel.hidden = false;
    statusBox.hidden = true;
    const store = storeField.hidden ? undefined : storeSelect.value || undefined;
    try {
      switch (method) {
        case 'none':
          return true;
        case 'file':
          await upload(image, 'file');
          return await follow(image.id, false);
        case 'glance-direct':
          await upload(image, 'stage');
          showStatus(null, null, 'Staged; starting the import…');
          await app.client.images.import(image.id, { method: { name: 'glance-direct' } }, { store });
          return await follow(image.id, true);
        case 'web-download':
          showStatus(null, null, 'Starting the import…');
          await app.client.images.import(image.id, { method: { name: 'web-download', uri: urlInput.value.trim() } }, { store });
          return await follow(image.id, true);
      }
    } catch (err) {
      noticeUnauthorized(err);
      const message = describeError(err);
      showError(alert, err instanceof DOMException && err.name === 'AbortError' ? 'Upload cancelled. The image stays queued: upload again, or delete it.' : message);
      return false;
    }
  };

  if (startButton && opts.image) {
    const image = opts.image;
    startButton.addEventListener('click', () => {
      startButton.disabled = true;
      void start(image).finally(() => (startButton.disabled = false));
    });
  }
  return { element, validate, start, busy: () => running !== null };
}
