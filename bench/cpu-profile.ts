/**
 * Summarizes a V8 CPU profile (`node --cpu-prof`): self time by module and the top functions.
 *
 *   node dist/bench/cpu-profile.js FILE.cpuprofile [--top N]
 *
 * Modules: a package under node_modules, a file of Ocellus (dist/src/…), Node's own JS
 * (node:…), or V8's pseudo-frames ((garbage collector), (program), (idle)). The busy time
 * excludes (idle). Also the total (inclusive) time under each function of Ocellus, to tell which
 * operation the time in libraries and natives is spent for.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

export function moduleOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return url;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const src = /\/dist\/((?:src|bench|test)\/.*)\.js$/.exec(url);
  if (src) return `${src[1]}.ts`;
  return url.replace(/^file:\/\//, '');
}

export function summarize(profile: Profile, top = 30): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the next delta to it (as DevTools does).
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + dt);
  }
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, { module: string; us: number }>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const { callFrame: f } = byId.get(id)!;
    if (f.functionName === '(idle)') continue;
    busy += us;
    const mod = moduleOf(f.url, f.functionName);
    byModule.set(mod, (byModule.get(mod) ?? 0) + us);
    const file = mod.includes('/') || !f.url.includes('/node_modules/') ? mod : `${mod}/…/${f.url.slice(f.url.lastIndexOf('/') + 1)}`;
    const key = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
    const entry = byFunction.get(key) ?? { module: mod, us: 0 };
    entry.us += us;
    byFunction.set(key, entry);
  }
  // Inclusive time of Ocellus's own functions: each sample counts once for every distinct one on its stack.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      const mod = moduleOf(f.url, f.functionName);
      if (!mod.startsWith('src/')) continue;
      const key = `${f.functionName || '(anonymous)'} ${mod}:${f.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const lines = [`busy ${(busy / 1e6).toFixed(2)} s (idle excluded)`, '', 'self time by module:'];
  for (const [mod, us] of [...byModule].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${mod}`);
  lines.push('', 'top functions by self time:');
  for (const [key, { us }] of [...byFunction].sort((a, b) => b[1].us - a[1].us).slice(0, top)) lines.push(`  ${pct(us)}  ${key}`);
  lines.push('', 'total time under functions of Ocellus (inclusive):');
  for (const [key, us] of [...inclusive].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${key}`);
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '30' } }, allowPositionals: true });
  for (const file of positionals) {
    console.log(`${file}:`);
    console.log(summarize(JSON.parse(fs.readFileSync(file, 'utf8')) as Profile, Number(values.top)).join('\n'));
  }
}
