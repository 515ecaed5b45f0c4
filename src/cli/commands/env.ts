import type { Command } from 'commander'
import { readFileSync } from 'node:fs'
import { relative, resolve } from 'node:path'
import { mergeEnvFile, renderEnvBlock, replaceFileAtomically } from '../../core/env/env-file.js'
import { manifestEnvironment } from '../../core/env/manifest-env.js'
import type { ManifestEnvironment } from '../../core/env/manifest-env.js'
import { PortwardenError } from '../../core/errors.js'
import { loadManifest } from '../../core/manifest/load-manifest.js'
import { validateName } from '../../core/registry/names.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import type { RegistryOptions } from '../registry-access.js'
import { withRegistry } from '../registry-access.js'

interface EnvOptions extends GlobalOptions, RegistryOptions {
  manifest?: string
  project?: string
  format?: string
  write?: string
}

const FORMATS = ['dotenv', 'shell', 'json'] as const

function parseFormat(text: string | undefined, json: boolean): (typeof FORMATS)[number] {
  if (text === undefined) return json ? 'json' : 'dotenv'
  const format = FORMATS.find((f) => f === text.toLowerCase())
  if (!format) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid --format ${JSON.stringify(text)}: expected dotenv, shell or json.`,
      { hint: 'dotenv: WEB_PORT=8123 lines (docker compose .env); shell: export lines; json.' },
    )
  }
  return format
}

function toJsonEnvironment(env: ManifestEnvironment, written: string | null) {
  return {
    project: env.project,
    manifest: env.manifest,
    ports: env.ports.map((p) => ({
      service: p.service,
      name: p.name,
      protocol: p.protocol,
      port: p.port,
      source: p.source,
      variables: p.variables,
    })),
    variables: Object.fromEntries(env.variables),
    written,
  }
}

/** The file `--write` merges into: empty when it does not exist yet; a sentence when unreadable. */
function readEnvFile(path: string, shown: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return ''
    const denied = code === 'EACCES' || code === 'EPERM'
    const why =
      code === 'EISDIR' ? 'it is a directory' : denied ? 'permission denied' : String(code)
    throw new PortwardenError(
      denied ? 'permission_denied' : 'invalid_request',
      `Cannot merge into ${shown}: ${why}.`,
      { hint: 'Give --write a file, such as .env, in a directory you may write.' },
    )
  }
}

/** `env`: every declared port as variables; with --write, merged into FILE atomically. */
async function envCommand(options: EnvOptions): Promise<CommandResult> {
  const format = parseFormat(options.format, options.json === true)
  if (options.write !== undefined && format === 'json') {
    throw new PortwardenError(
      'invalid_request',
      '--write takes --format dotenv or shell: a .env file is not JSON.',
      { hint: 'portwarden env --write .env, or portwarden env --format json to read the ports.' },
    )
  }
  const manifest = loadManifest({ path: options.manifest })
  const project =
    options.project === undefined ? undefined : validateName('project', options.project)
  const env = await withRegistry(options, (store) =>
    manifestEnvironment(manifest, store, { project }),
  )
  const source = relative(process.cwd(), manifest.path) || manifest.path
  const notes: string[] = []
  let written: string | null = null
  if (options.write !== undefined) {
    const path = resolve(options.write)
    const existing = readEnvFile(path, options.write)
    const block = renderEnvBlock(env.variables, format === 'shell' ? 'shell' : 'dotenv', source)
    const merged = mergeEnvFile(existing, block, new Set(env.variables.map(([name]) => name)))
    if (merged.text !== existing) replaceFileAtomically(path, merged.text)
    written = path
    notes.push(
      `wrote ${env.variables.length} variables for project ${env.project} to ${options.write}` +
        (merged.kept > 0 ? ` (kept ${merged.kept} other line${merged.kept === 1 ? '' : 's'})` : ''),
    )
    for (const line of merged.replaced)
      notes.push(
        `  dropped line ${line.line}, ${JSON.stringify(line.text)}: portwarden sets that variable`,
      )
  }
  const json = toJsonEnvironment(env, written)
  const text =
    written !== null
      ? ''
      : format === 'json'
        ? JSON.stringify(json, null, 2)
        : renderEnvBlock(env.variables, format, source).trimEnd()
  return {
    exitCode: EXIT.ok,
    json,
    text,
    warnings: [],
    notes,
  }
}

export function registerEnv(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('env')
        .description(
          "every port the manifest declares as variables (WEB_PORT=8123, PORT_WEB) for docker compose's .env, direnv or source; auto ports and ranges come from the registry, stable per worktree",
        )
        .option('--project <name>', "the project (default: the manifest's, else the worktree name)")
        .option('--format <format>', 'dotenv (default), shell (export lines) or json')
        .option('--write <file>', 'merge into FILE atomically, keeping the lines it does not own')
        .option(
          '--manifest <file>',
          'the manifest (default: portwarden.toml here or in a parent directory)',
        ),
    )
    .action((options) => cli.run(envCommand(cli.globals(options))))
}
