#!/usr/bin/env node
/**
 * The CLI's entry. For the questions that need to know who holds which socket (`list`, `who`,
 * `check`) the kernel work starts here, before the rest of the CLI is loaded: the holder scan
 * (and for `list` the socket dump) runs on the native addon's threads while Node compiles
 * the commands, ~15 ms of a 70 ms `who` (bench/RESULTS.md). Only for the plain forms, whose
 * requests are known before the options are parsed; anything else (another backend, a filtered
 * list) is left to the command itself.
 */
import { prefetchHolderScan } from '../core/process/holder-scan.js'
import { prefetchListing } from '../core/sockets/netlink-backend.js'
import type { ListFlags } from './list-query.js'
import { listQuery } from './list-query.js'

/** `list` flags that keep the full listing (a filter scans fewer processes). */
const LIST_FLAGS: Readonly<Record<string, keyof ListFlags | 'json'>> = {
  '--json': 'json',
  '-a': 'all',
  '--all': 'all',
  '-t': 'tcp',
  '--tcp': 'tcp',
  '-u': 'udp',
  '--udp': 'udp',
  '-4': 'ipv4',
  '--ipv4': 'ipv4',
  '-6': 'ipv6',
  '--ipv6': 'ipv6',
}

const [command, ...rest] = process.argv.slice(2)
// Another backend, or help: the command decides, and no scan keeps the process waiting.
const leaveToCommand = rest.some(
  (arg) => arg.startsWith('--backend') || arg === '-h' || arg === '--help',
)
if (command === 'list' && rest.every((arg) => Object.hasOwn(LIST_FLAGS, arg))) {
  const flags: ListFlags = {}
  for (const arg of rest) {
    const flag = LIST_FLAGS[arg]
    if (flag && flag !== 'json') flags[flag] = true
  }
  void prefetchHolderScan('/proc', true)
  void prefetchListing(listQuery(flags))
} else if ((command === 'who' || command === 'check') && rest.length > 0 && !leaveToCommand) {
  void prefetchHolderScan('/proc', false)
}

// No top-level await: the CLI ships as a CommonJS bundle (dist/bin/), which starts faster.
void import('./main.js')
