import type { Command } from 'commander'
import { findFreePorts } from '../../core/registry/find-free.js'
import { toJsonFound } from '../../core/wire.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import { parseCount, parseRange } from '../parse-options.js'
import type { RegistryOptions } from '../registry-access.js'
import { withExistingRegistry } from '../registry-access.js'

export interface FindOptions extends GlobalOptions, RegistryOptions {
  range?: string
  count?: string
  udp?: boolean
  host?: string
}

/** `find`: free ports, one per line. Read-only: a registry that does not exist yet is not created. */
export async function find(options: FindOptions): Promise<CommandResult> {
  return withExistingRegistry(options, async (store) => {
    const protocol = options.udp ? 'udp' : 'tcp'
    const result = await findFreePorts({
      protocol,
      range: options.range === undefined ? undefined : parseRange(options.range),
      count: options.count === undefined ? 1 : parseCount(options.count),
      host: options.host,
      store,
    })
    return {
      exitCode: EXIT.ok,
      json: toJsonFound(protocol, result.ports),
      text: result.ports.join('\n'),
      warnings: result.warnings.map((w) => w.message),
    }
  })
}

export function registerFind(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('find')
        .description('print free port(s), skipping ports held by the system or the registry')
        .option('--range <a-b>', 'where to look (default 20000-29999)')
        .option('--count <n>', 'how many ports (default 1)')
        .option('--udp', 'UDP ports')
        .option('--host <addr>', 'free on this address only (default: every address)'),
    )
    .action((options) => cli.run(find(cli.globals(options))))
}
