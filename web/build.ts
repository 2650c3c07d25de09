/**
 * Builds the dashboard's page (`web/dashboard/`) into `web/dist/`: one
 * JavaScript bundle with dagre and uPlot inside, one stylesheet, the HTML.
 * The result is committed, so `npm ci` and `eddy run --ui` need no build
 * step and no bundler at run time; `test/ops/dashboard-bundle.test.ts` fails
 * when the committed bundle is not what this script makes from the sources.
 *
 *   npm run build:ui
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** The files of `web/dist/`, by name. */
export async function buildDashboard(): Promise<Map<string, string>> {
  const result = await build({
    entryPoints: { dashboard: here('./dashboard/main.ts') },
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    legalComments: 'eof',
    write: false,
    outdir: here('./dist'),
    logLevel: 'silent',
  });
  const files = new Map<string, string>();
  for (const out of result.outputFiles) files.set(out.path.slice(out.path.lastIndexOf('/') + 1), out.text);
  files.set('index.html', await readFile(here('./dashboard/index.html'), 'utf8'));
  return files;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [name, text] of await buildDashboard()) {
    await writeFile(here(`./dist/${name}`), text);
    process.stdout.write(`web/dist/${name}: ${text.length.toLocaleString('en-US')} bytes\n`);
  }
}
