// npm run build, last step: tsc emits JavaScript only, so the files the compiled code
// reads at run time (next to itself, via import.meta.url) are copied into dist/ here.
import { cpSync, existsSync } from 'node:fs';

/** Paths relative to the project root; each lands at the same path under dist/. */
export const RUNTIME_ASSETS = ['services/accounts.json', 'proxy/dashboard'] as const;

for (const asset of RUNTIME_ASSETS) {
  if (!existsSync(asset)) {
    console.error(`build: ${asset} is missing; the compiled code reads it at run time`);
    process.exit(1);
  }
  cpSync(asset, `dist/${asset}`, { recursive: true });
}
