/**
 * `portwarden completion bash|zsh|fish`: a script for the shell that completes the commands,
 * their flags and, for `who`, `check` and `free`, the ports listening right now. The commands and
 * flags come from the program itself (nothing to keep in step by hand); the ports from
 * `portwarden completion --ports`, run by the script when the user presses Tab.
 */
import type { Command } from 'commander'
import { Option } from 'commander'
import { PortwardenError } from '../../core/errors.js'
import { listSockets } from '../../core/sockets/list-sockets.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult } from '../command-result.js'
import { EXIT } from '../exit-codes.js'

const SHELLS = ['bash', 'zsh', 'fish'] as const
type Shell = (typeof SHELLS)[number]

/** The commands whose operands are ports: Tab offers the listening ones. */
const PORT_COMMANDS = ['who', 'check', 'free']

interface CommandSpec {
  name: string
  description: string
  flags: { long: string; description: string }[]
}

export function registerCompletion(program: Command, cli: CliContext): void {
  program
    .command('completion')
    .description('print a shell completion script: commands, flags and listening ports')
    .argument('[shell]', `${SHELLS.join(', ')}`)
    .addOption(new Option('--ports', 'print the listening ports, one per line').hideHelp())
    .action((shell: string | undefined, options: { ports?: boolean }) =>
      cli.run(
        options.ports ? listeningPorts() : completion(shell, commandSpecs(program), program.name()),
      ),
    )
}

function completion(
  shell: string | undefined,
  commands: CommandSpec[],
  bin: string,
): CommandResult {
  if (!SHELLS.includes(shell as Shell)) {
    throw new PortwardenError(
      'invalid_request',
      shell === undefined
        ? 'portwarden completion needs the shell to complete for.'
        : `Unknown shell ${JSON.stringify(shell)}: completion scripts are for ${SHELLS.join(', ')}.`,
      {
        hint: 'Example: source <(portwarden completion bash), or see the README for zsh and fish.',
      },
    )
  }
  const script = { bash: bashScript, zsh: zshScript, fish: fishScript }[shell as Shell]
  return { exitCode: EXIT.ok, json: null, text: script(commands, bin), warnings: [] }
}

function commandSpecs(program: Command): CommandSpec[] {
  return program.commands
    .filter((command) => command.name() !== 'help')
    .map((command) => ({
      name: command.name(),
      description: command.description(),
      flags: command.options
        .filter((option) => !option.hidden && option.long !== undefined)
        .map((option) => ({ long: option.long as string, description: option.description })),
    }))
}

/** `8080` for TCP, `5353/udp` for UDP: what `who`, `check` and `free` take. */
async function listeningPorts(): Promise<CommandResult> {
  const { sockets } = await listSockets({ withProcesses: false })
  const specs = new Set(
    sockets.map((s) => (s.protocol === 'udp' ? `${s.localPort}/udp` : String(s.localPort))),
  )
  const sorted = [...specs].sort((a, b) => Number.parseInt(a) - Number.parseInt(b))
  return { exitCode: EXIT.ok, json: sorted, text: sorted.join('\n'), warnings: [] }
}

/** A word for a shell script; the names and flags are our own, so only `'` needs care. */
const quoted = (text: string) => `'${text.replaceAll("'", "'\\''")}'`

function bashScript(commands: CommandSpec[], bin: string): string {
  const cases = commands
    .map((c) => `    ${c.name}) flags=${quoted(c.flags.map((f) => f.long).join(' '))} ;;`)
    .join('\n')
  return `# portwarden completion for bash: source <(portwarden completion bash)
_portwarden() {
  local cur=\${COMP_WORDS[COMP_CWORD]} command=\${COMP_WORDS[1]} flags=''
  COMPREPLY=()
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W ${quoted(commands.map((c) => c.name).join(' '))} -- "$cur"))
    return 0
  fi
  case "$command" in
${cases}
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  else
    case "$command" in
      ${PORT_COMMANDS.join('|')})
        COMPREPLY=($(compgen -W "$("\${COMP_WORDS[0]}" completion --ports 2>/dev/null)" -- "$cur")) ;;
    esac
  fi
  return 0
}
complete -F _portwarden ${bin}`
}

function zshScript(commands: CommandSpec[], bin: string): string {
  const described = (name: string, description: string) =>
    quoted(`${name.replaceAll(':', '\\:')}:${description}`)
  const cases = commands
    .map(
      (c) =>
        `    ${c.name}) flags=(${c.flags.map((f) => described(f.long, f.description)).join(' ')}) ;;`,
    )
    .join('\n')
  return `#compdef ${bin}
# portwarden completion for zsh: source <(portwarden completion zsh), or save it as _portwarden
# in a directory of $fpath.
_portwarden() {
  local -a commands flags ports
  commands=(${commands.map((c) => described(c.name, c.description)).join(' ')})
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case $words[2] in
${cases}
  esac
  if [[ $PREFIX == -* ]]; then
    _describe 'flag' flags
  elif [[ $words[2] == (${PORT_COMMANDS.join('|')}) ]]; then
    ports=(\${(f)"$($words[1] completion --ports 2>/dev/null)"})
    compadd -a ports
  fi
}
compdef _portwarden ${bin}`
}

function fishScript(commands: CommandSpec[], bin: string): string {
  const lines = [
    `# portwarden completion for fish: portwarden completion fish | source`,
    `complete -c ${bin} -f`,
    ...commands.map(
      (c) => `complete -c ${bin} -n __fish_use_subcommand -a ${c.name} -d ${quoted(c.description)}`,
    ),
    ...commands.flatMap((c) =>
      c.flags.map(
        (f) =>
          `complete -c ${bin} -n ${quoted(`__fish_seen_subcommand_from ${c.name}`)} -l ${f.long.slice(2)} -d ${quoted(f.description)}`,
      ),
    ),
    `complete -c ${bin} -n ${quoted(`__fish_seen_subcommand_from ${PORT_COMMANDS.join(' ')}`)} -a ${quoted(`(${bin} completion --ports 2>/dev/null)`)}`,
  ]
  return lines.join('\n')
}
