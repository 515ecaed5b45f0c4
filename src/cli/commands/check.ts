import type { Command } from 'commander'
import { checkPorts } from '../../core/check-port.js'
import { timeWaitCaveat } from '../../core/messages.js'
import { toJsonChecks } from '../../core/wire.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import { parseBackend, requireSpecs } from '../parse-options.js'
import type { RegistryOptions } from '../registry-access.js'
import { allocationsForEvidence } from '../registry-access.js'
import { renderChecks } from '../render/human.js'
import type { Style } from '../render/style.js'

export interface CheckCommandOptions extends GlobalOptions, RegistryOptions {
  host?: string
  allNamespaces?: boolean
}

export async function check(
  specTexts: string[],
  options: CheckCommandOptions,
  style: Style,
): Promise<CommandResult> {
  const specs = requireSpecs(specTexts, 'check')
  const registry = await allocationsForEvidence(options)
  const checks = await checkPorts(specs, {
    host: options.host,
    backend: parseBackend(options.backend),
    otherProtocol: true,
    otherNamespaces: options.allNamespaces === true ? 'every-port' : true,
    // As `who`: the evidence without asking the service anything.
    evidence: { allocations: registry.allocations },
  })
  return {
    exitCode: checks.every((c) => c.free) ? EXIT.ok : EXIT.no,
    json: options.json ? toJsonChecks(checks) : null,
    text: options.json ? '' : renderChecks(checks, style),
    // A [WARN] line says its TIME-WAIT caveat itself; stderr repeats it only beside --json.
    warnings: [
      ...registry.warnings,
      ...checks.flatMap((c) =>
        c.warnings.filter((w) => options.json || w !== timeWaitCaveat(c)).map((w) => w.message),
      ),
    ],
  }
}

export function registerCheck(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('check')
        .description('is each port free to bind? exit 1 if any is taken')
        .argument('[spec...]', 'ports: 8080, 8080/tcp, 51820/udp, 8000-8010')
        .option('--host <addr>', 'check this address only (default: every address)')
        .option(
          '--all-namespaces',
          "also name taken ports' listeners in other network namespaces (they never make a port taken here)",
        ),
    )
    .action((specs: string[], options) => cli.run(check(specs, cli.globals(options), cli.stdout)))
}
