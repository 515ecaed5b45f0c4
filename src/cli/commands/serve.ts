import type { Command } from 'commander'
import { PortwardenError } from '../../core/errors.js'
import { parseHost } from '../../core/addresses.js'
import { parseDuration } from '../../core/free/options.js'
import { isLoopbackName } from '../../server/security.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import type { RegistryOptions } from '../registry-access.js'

export interface ServeOptions extends GlobalOptions, RegistryOptions {
  host: string
  port: string
  healthInterval?: string
}

export const DEFAULT_SERVE_PORT = 7878

/**
 * `serve`: the HTTP API, the dashboard and /metrics until SIGINT/SIGTERM (exit 0). Prints the
 * READY line (`portwarden serve: listening on URL`) and the dashboard URL with the token in
 * its fragment, which the browser never sends to the server.
 */
export async function serve(options: ServeOptions): Promise<CommandResult> {
  const port = parseListenPort(options.port)
  const healthIntervalMs =
    options.healthInterval === undefined
      ? undefined
      : parseDuration(options.healthInterval, '--health-interval')
  if (healthIntervalMs !== undefined && healthIntervalMs < 1000) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid --health-interval ${JSON.stringify(options.healthInterval)}: at least 1s.`,
      {
        hint: 'Example: --health-interval 15m',
      },
    )
  }
  const host = parseHost(options.host)?.address
  if (host === undefined) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid --host ${JSON.stringify(options.host)}: an IPv4 or IPv6 address (or localhost) is expected.`,
      {
        hint: 'Examples: --host 127.0.0.1 (the default), --host ::1, --host 0.0.0.0 (every interface: needs the token on every route).',
      },
    )
  }
  const { startServer } = await import('../../server/listen.js')
  const { loadOrCreateToken, stateDirectory } = await import('../../server/token.js')
  const { token } = loadOrCreateToken(stateDirectory())
  if (!isLoopbackName(host)) {
    process.stderr.write(
      `warning: serving on ${host}, which is not a loopback address: other hosts can reach this API; the token is required on every route.\n`,
    )
  }
  const running = await startServer({
    host,
    port,
    token,
    registry: options.registry,
    healthIntervalMs,
    requestTimeoutMs: requestTimeoutFromEnv(),
  })
  // SIGINT/SIGTERM handled from here on, in the same tick as the READY line below: signal
  // handlers run from the event loop, so a signal sent as soon as the line is read finds them.
  // Before this (during start-up) a signal keeps its default action and simply stops us.
  const stopRequested = new Promise<void>((resolve) => {
    const onSignal = () => {
      process.removeListener('SIGINT', onSignal)
      process.removeListener('SIGTERM', onSignal)
      resolve()
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  })
  process.stdout.write(`portwarden serve: listening on ${running.url}\n`)
  process.stdout.write(`dashboard: ${running.url}/#token=${token}\n`)

  await stopRequested
  await running.close()
  return { exitCode: EXIT.ok, json: { stopped: true }, text: '', warnings: [] }
}

function parseListenPort(text: string): number {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid --port ${JSON.stringify(text)}: a port number 0-65535 is expected (0 picks a free one).`,
      {
        hint: 'Example: --port 7878',
      },
    )
  }
  return Number(text)
}

/** `PORTWARDEN_SERVE_REQUEST_TIMEOUT` (ms): lets tests see the 408 of a slow body without waiting 30 s. */
function requestTimeoutFromEnv(): number | undefined {
  const text = process.env.PORTWARDEN_SERVE_REQUEST_TIMEOUT
  return text !== undefined && /^[1-9][0-9]{2,6}$/.test(text) ? Number(text) : undefined
}

export function registerServe(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('serve')
        .description(
          'the HTTP API, the dashboard and /metrics (loopback only unless --host says otherwise)',
        )
        .option('--host <address>', 'address to listen on', '127.0.0.1')
        .option('--port <n>', 'port to listen on (0: a free one)', String(DEFAULT_SERVE_PORT))
        .option(
          '--health-interval <duration>',
          "re-run the registry's health checks this often (e.g. 15m)",
        ),
    )
    .action((options) => cli.run(serve(cli.globals(options))))
}
