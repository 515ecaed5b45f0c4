import type { Command } from 'commander'
import { listSocketsJson } from '../../core/sockets/list-json.js'
import type { ListSocketsOptions } from '../../core/sockets/list-sockets.js'
import { listSockets } from '../../core/sockets/list-sockets.js'
import { socketsJsonChunks } from '../../core/wire.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import type { ListFlags } from '../list-query.js'
import { listPortSpecs, listQuery } from '../list-query.js'
import { parseBackend, parsePid } from '../parse-options.js'
import { renderSocketTable } from '../render/human.js'

export interface ListOptions extends GlobalOptions, ListFlags {
  port?: string[]
  pid?: string
  process?: string
  allNamespaces?: boolean
}

export async function list(options: ListOptions): Promise<CommandResult> {
  const selected = listQuery(options)
  const query: ListSocketsOptions = {
    ...selected,
    ports:
      options.port && options.port.length > 0
        ? listPortSpecs(options.port, selected.protocols ?? ['tcp', 'udp'])
        : undefined,
    pid: options.pid === undefined ? undefined : parsePid(options.pid),
    processName: options.process,
    backend: parseBackend(options.backend),
    allNamespaces: options.allNamespaces === true,
  }
  // A full listing as JSON comes straight from the addon when it can (the same bytes).
  const native = options.json ? await listSocketsJson(query) : null
  if (native) {
    return {
      exitCode: EXIT.ok,
      json: null,
      jsonChunks: [native.json],
      text: '',
      warnings: native.warnings.map((w) => w.message),
    }
  }
  const inventory = await listSockets(query)
  const width = process.stdout.isTTY ? process.stdout.columns : undefined
  return {
    exitCode: EXIT.ok,
    json: null,
    jsonChunks: options.json ? socketsJsonChunks(inventory.sockets) : undefined,
    text: options.json ? '' : renderSocketTable(inventory.sockets, query, width),
    warnings: inventory.warnings.map((w) => w.message),
  }
}

export function registerList(program: Command, cli: CliContext): void {
  cli
    .common(
      program
        .command('list')
        .description(
          'sockets and the processes holding them (default: TCP listeners and bound UDP, like ss -tulpn)',
        )
        .option('-a, --all', 'every state, connections included')
        .option('-t, --tcp', 'TCP only')
        .option('-u, --udp', 'UDP only')
        .option('-4, --ipv4', 'IPv4 only')
        .option('-6, --ipv6', 'IPv6 only')
        .option(
          '-p, --port <spec>',
          'only these ports (8080: every protocol listed; 8000-8010/udp); repeatable',
          collect,
          [] as string[],
        )
        .option('--pid <n>', 'only sockets held by this process')
        .option('--process <name>', 'only sockets held by processes with this name')
        .option(
          '--all-namespaces',
          'every network namespace reachable (ip netns, containers), each socket with its NETNS',
        ),
    )
    .action((options) => cli.run(list(cli.globals(options))))
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}
