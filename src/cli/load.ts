/**
 * Loads a pipeline module (`export default definePipeline({...})`) for the
 * `eddy` commands: its errors are one line each, naming the command.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { OptionSpec, PipelineModule } from './define.ts';

/** Imports the module; a string when it cannot be found or is not a pipeline module (one line to print). */
export async function loadModule(
  file: string,
  command = 'eddy run',
): Promise<PipelineModule<Record<string, OptionSpec>> | string> {
  const path = resolve(file);
  if (!existsSync(path))
    return `${command}: no pipeline module at ${file} (${path}); check the path, e.g. eddy run examples/iot/pipeline.ts`;
  if (statSync(path).isDirectory())
    return `${command}: ${file} is a directory; name the module file in it, e.g. ${join(file, 'pipeline.ts')}`;
  let loaded: { default?: PipelineModule<Record<string, OptionSpec>> };
  try {
    loaded = (await import(pathToFileURL(path).href)) as typeof loaded;
  } catch (e) {
    // A module that imports something missing is one line; an error in the module's own code keeps its stack.
    const code = (e as { code?: unknown })?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_UNSUPPORTED_DIR_IMPORT')
      return `${command}: cannot load ${file}: ${(e as Error).message.split('\n')[0]}; check its imports`;
    throw e;
  }
  const mod = loaded.default;
  if (mod === undefined || typeof mod.build !== 'function')
    return `${command}: ${file} does not default-export a pipeline; export default definePipeline({...})`;
  return mod;
}
