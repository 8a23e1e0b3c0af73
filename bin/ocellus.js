#!/usr/bin/env -S node --initial-old-space-size=96
// A larger initial old space keeps V8 from running a full GC every ~30 MiB of image bytes
// streamed (each read/receive buffer is external memory); see README "Performance".
import { main } from '../dist/src/cli/main.js';

await main(process.argv.slice(2));
