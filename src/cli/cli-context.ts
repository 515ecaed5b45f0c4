import type { Command } from 'commander'
import type { CommandResult } from './command-result.js'
import type { Style } from './render/style.js'

/** What main.ts gives each command module to declare itself with. */
export interface CliContext {
  /** Hands a command's result (or its promise) to main for printing and the exit code. */
  run(result: Promise<CommandResult> | CommandResult): void
  /** The options with program-wide flags (`--json` before the command name) merged in. */
  globals<T extends object>(options: T): T & { json: boolean }
  /** Styling for stdout (colour only on a terminal without NO_COLOR). */
  stdout: Style
  /** Adds `--json` and `--backend`. */
  common(command: Command): Command
  /** Adds `--json`, `--backend` and `--registry`. */
  registry(command: Command): Command
}
