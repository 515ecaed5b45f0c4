import type { Family, Protocol } from '../../core/index.js'
import { listSockets, toJsonSocket } from '../../core/index.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import { parseBackend, parsePid, parseSpecs } from '../parse-options.js'
import { renderSocketTable } from '../render/human.js'

export interface ListOptions extends GlobalOptions {
  all?: boolean
  tcp?: boolean
  udp?: boolean
  ipv4?: boolean
  ipv6?: boolean
  port?: string[]
  pid?: string
  process?: string
}

export async function list(options: ListOptions): Promise<CommandResult> {
  const protocols: Protocol[] = options.tcp === options.udp ? ['tcp', 'udp'] : options.tcp ? ['tcp'] : ['udp']
  const families: Family[] = options.ipv4 === options.ipv6 ? ['ipv4', 'ipv6'] : options.ipv4 ? ['ipv4'] : ['ipv6']
  const inventory = await listSockets({
    all: options.all === true,
    protocols,
    families,
    ports: options.port && options.port.length > 0 ? parseSpecs(options.port) : undefined,
    pid: options.pid === undefined ? undefined : parsePid(options.pid),
    processName: options.process,
    backend: parseBackend(options.backend),
  })
  const width = process.stdout.isTTY ? process.stdout.columns : undefined
  return {
    exitCode: EXIT.ok,
    json: options.json ? inventory.sockets.map(toJsonSocket) : null,
    text: options.json ? '' : renderSocketTable(inventory.sockets, { all: options.all === true, width }),
    warnings: inventory.warnings.map((w) => w.message),
  }
}
