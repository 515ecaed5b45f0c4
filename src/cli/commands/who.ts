import type { Command } from 'commander'
import { isHeld, whoHolds } from '../../core/who-holds.js'
import { toJsonWho } from '../../core/wire.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import { parseBackend, requireSpecs } from '../parse-options.js'
import type { RegistryOptions } from '../registry-access.js'
import { allocationsForEvidence } from '../registry-access.js'
import { renderWho } from '../render/human.js'
import type { Style } from '../render/style.js'

export async function who(
  specTexts: string[],
  options: GlobalOptions & RegistryOptions & { allNamespaces?: boolean },
  style: Style,
): Promise<CommandResult> {
  const specs = requireSpecs(specTexts, 'who')
  const registry = await allocationsForEvidence(options)
  const result = await whoHolds(specs, {
    backend: parseBackend(options.backend),
    otherProtocol: true,
    allNamespaces: options.allNamespaces === true,
    otherNamespaces: true,
    // No HTTP probe: asking who holds a port never touches the service itself.
    evidence: { allocations: registry.allocations },
  })
  const held = result.ports.some(isHeld)
  const text =
    result.ports.length === 0
      ? 'Nothing holds any port in the given range.'
      : renderWho(result.ports, style)
  return {
    exitCode: held ? EXIT.ok : EXIT.no,
    json: options.json ? toJsonWho(result.ports) : null,
    text: options.json ? '' : text,
    warnings: [...registry.warnings, ...result.warnings.map((w) => w.message)],
  }
}

export function registerWho(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('who')
        .description('who holds these ports: pid, name, user, command line, uptime, address')
        .argument('[spec...]', 'ports: 8080, 8080/tcp, 51820/udp, 8000-8010')
        .option(
          '--all-namespaces',
          'answer for every network namespace reachable (ip netns, containers), each by name',
        ),
    )
    .action((specs: string[], options) => cli.run(who(specs, cli.globals(options), cli.stdout)))
}
