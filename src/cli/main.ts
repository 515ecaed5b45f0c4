import { once } from 'node:events'
import { stringifyForTerminal } from '../shared/safe-text.js'
import { Command, CommanderError, Option } from 'commander'
import { PortwardenError, isPortwardenError } from '../core/errors.js'
import { packageVersion as version } from '../core/package-root.js'
import { noteMissingAddonOnce } from './addon-note.js'
import type { CommandResult } from './command-result.js'
import type { CliContext } from './cli-context.js'
import { EXIT, exitCodeFor } from './exit-codes.js'
import { colorEnabled, createStyle } from './render/style.js'

type Register = (program: Command, cli: CliContext) => void

/**
 * Every command, in the order `--help` lists them. A command's module (and the part of the core
 * it needs) is loaded only when that command runs: start-up time is most of a `who` or `list`.
 */
const COMMANDS: readonly (readonly [string, () => Promise<Register>])[] = [
  ['list', async () => (await import('./commands/list.js')).registerList],
  ['who', async () => (await import('./commands/who.js')).registerWho],
  ['check', async () => (await import('./commands/check.js')).registerCheck],
  ['find', async () => (await import('./commands/find.js')).registerFind],
  ['free', async () => (await import('./commands/free.js')).registerFree],
  ['prune', async () => (await import('./commands/prune.js')).registerPrune],
  ['alloc', async () => (await import('./commands/alloc.js')).registerAlloc],
  ['release', async () => (await import('./commands/alloc.js')).registerRelease],
  ['status', async () => (await import('./commands/status.js')).registerStatus],
  ['preflight', async () => (await import('./commands/preflight.js')).registerPreflight],
  ['doctor', async () => (await import('./commands/doctor.js')).registerDoctor],
  ['run', async () => (await import('./commands/run.js')).registerRun],
  ['env', async () => (await import('./commands/env.js')).registerEnv],
  ['watch', async () => (await import('./commands/watch.js')).registerWatch],
  ['serve', async () => (await import('./commands/serve.js')).registerServe],
  ['mcp', async () => (await import('./commands/mcp.js')).registerMcp],
  ['completion', async () => (await import('./commands/completion.js')).registerCompletion],
]

/**
 * `help COMMAND` is `COMMAND --help`, and `help` alone is `--help`: commander's own help command
 * prints the command's help and then reports a missing command, which would print the program's.
 */
function helpAsFlag(args: readonly string[]): string[] {
  if (args[0] !== 'help') return [...args]
  const [, name, ...rest] = args
  if (name === undefined) return ['--help']
  // An unknown name is reported as an unknown command, with commander's suggestion.
  if (!COMMANDS.some(([known]) => known === name)) return [name, ...rest]
  return [name, '--help', ...rest]
}

const argv = helpAsFlag(process.argv.slice(2))
// Only our own arguments: `run -- tool --json` passes --json to the tool, not to us.
const ownArgs = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv
const wantsJson = ownArgs.includes('--json')
const stdoutStyle = createStyle(colorEnabled(process.stdout))
const stderrStyle = createStyle(colorEnabled(process.stderr))

// A reader that stops early (`portwarden list --json | head`) is not our failure: stop quietly,
// as ss and lsof do, instead of dying on an unhandled EPIPE with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  process.stderr.write(`portwarden: cannot write the output: ${error.message}\n`)
  process.exit(3)
})

/** Every command gets --json and --backend; commander wants them declared per command. */
function withCommonOptions(command: Command): Command {
  return command
    .option('--json', 'machine output: one JSON document on stdout')
    .addOption(
      new Option('--backend <name>', 'socket table source: auto, netlink, proc or lsof').default(
        undefined,
      ),
    )
}

async function buildProgram(
  run: (result: Promise<CommandResult> | CommandResult) => void,
): Promise<Command> {
  const program = new Command('portwarden')
    .description("Who holds this port? Answers from the kernel's own socket tables.")
    .version(version(), '-V, --version')
    .showSuggestionAfterError(true)
    .option('--json', 'machine output: one JSON document on stdout')
    .exitOverride()
    .configureOutput({ writeErr: () => {}, outputError: () => {} })

  const cli: CliContext = {
    run,
    globals,
    stdout: stdoutStyle,
    common: withCommonOptions,
    registry: (command) =>
      withCommonOptions(command).option(
        '--registry <path|url>',
        'registry file or postgres:// URL (default: PORTWARDEN_REGISTRY, else $XDG_STATE_HOME/portwarden/registry.db, else ~/.local/state/portwarden/registry.db)',
      ),
  }
  // The named command alone; every command for help, a typo's suggestion, no command at all, or
  // a completion script (which lists them all).
  const named = COMMANDS.find(([name]) => name === ownArgs.find((arg) => !arg.startsWith('-')))
  const alone = named && !(named[0] === 'completion' && !ownArgs.includes('--ports'))
  for (const [, load] of alone ? [named] : COMMANDS) (await load())(program, cli)

  for (const command of program.commands) {
    command.exitOverride().configureOutput({ writeErr: () => {}, outputError: () => {} })
  }
  return program
}

/** `--json` may stand before or after the command name; commander gives it to the program then. */
function globals<T extends object>(options: T): T & { json: boolean } {
  return { ...options, json: wantsJson }
}

async function printResult(result: CommandResult): Promise<void> {
  for (const warning of result.warnings)
    process.stderr.write(`${stderrStyle.warn('warning:')} ${warning}\n`)
  if (!wantsJson)
    for (const note of result.notes ?? []) process.stderr.write(`${stderrStyle.dim(note)}\n`)
  if (wantsJson && result.jsonChunks) {
    // A pipe takes ~64 KiB at a time: wait for it to drain rather than queue the whole output.
    for (const chunk of result.jsonChunks)
      if (!process.stdout.write(chunk)) await once(process.stdout, 'drain')
    process.stdout.write('\n')
  } else if (wantsJson)
    process.stdout.write(`${result.jsonText ?? stringifyForTerminal(result.json)}\n`)
  else if (result.text) process.stdout.write(`${result.text}\n`)
  process.exitCode = result.exitCode
}

/** The one place that turns errors into output and exit codes. */
function reportError(error: unknown): void {
  let code: string
  let message: string
  let hint: string | undefined
  let exitCode: number
  if (isPortwardenError(error)) {
    ;({ code, message, hint } = error)
    exitCode = exitCodeFor(error.code)
  } else if (error instanceof CommanderError) {
    code = 'invalid_request'
    // commander puts its "(Did you mean ...?)" on a line of its own
    message = `${error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')}.`
      .replace(/\.\.$/, '.')
      .replace(/^./, (c) => c.toUpperCase())
    hint =
      'Run `portwarden --help` or `portwarden COMMAND --help` for the accepted commands and flags.'
    exitCode = EXIT.usage
  } else {
    code = 'internal_error'
    message = `Internal error: ${error instanceof Error ? error.message : String(error)}`
    hint = 'Please report this; set PORTWARDEN_DEBUG=1 to see where it happened.'
    exitCode = EXIT.environment
    if (process.env.PORTWARDEN_DEBUG && error instanceof Error)
      process.stderr.write(`${error.stack}\n`)
  }
  if (wantsJson)
    process.stdout.write(
      `${stringifyForTerminal({ error: code, message, ...(hint ? { hint } : {}) })}\n`,
    )
  else
    process.stderr.write(
      `${stderrStyle.fail('portwarden:')} ${message}${hint ? `\n${hint}` : ''}\n`,
    )
  process.exitCode = exitCode
}

async function main(): Promise<void> {
  let pending: Promise<CommandResult> | CommandResult | undefined
  const program = await buildProgram((result) => (pending = result))
  try {
    await program.parseAsync(argv, { from: 'user' })
    if (pending !== undefined) await printResult(await pending)
    noteMissingAddonOnce(version(), (line) => process.stderr.write(`${stderrStyle.dim(line)}\n`))
  } catch (error) {
    if (
      error instanceof CommanderError &&
      (error.code === 'commander.helpDisplayed' || error.code === 'commander.version')
    ) {
      process.exitCode = EXIT.ok
      return
    }
    if (error instanceof CommanderError && error.code === 'commander.help') {
      // No command given: the help is the answer, but the call was still wrong.
      if (!wantsJson) {
        process.stderr.write(program.helpInformation())
        process.exitCode = EXIT.usage
        return
      }
      const commands = program.commands.map((c) => c.name()).filter((name) => name !== 'help')
      reportError(
        new PortwardenError('invalid_request', 'No command given.', {
          hint: `Commands: ${commands.join(', ')}.`,
        }),
      )
      return
    }
    reportError(error)
  }
}

// Started by bin.ts. No top-level await: the CLI ships as a CommonJS bundle (dist/bin/).
main().catch(reportError)
