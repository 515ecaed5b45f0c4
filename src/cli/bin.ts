#!/usr/bin/env node
/**
 * The CLI's entry. For the questions that need to know who holds which socket (`list`, `who`,
 * `check`) the kernel scan starts here, before the rest of the CLI is loaded: it runs on the
 * native addon's threads while Node compiles the commands, ~15 ms of a 70 ms `who`
 * (bench/RESULTS.md). Only for the plain forms, whose scan is known before the options are
 * parsed; anything else (another backend, a filtered list) is left to the command itself.
 */
import { prefetchHolderScan } from '../core/process/holder-scan.js'

const [command, ...rest] = process.argv.slice(2)
/** `list` flags that keep the default full listing (a filter scans fewer processes). */
const PLAIN_LIST_FLAGS = new Set([
  '--json',
  '-a',
  '--all',
  '-t',
  '--tcp',
  '-u',
  '--udp',
  '-4',
  '--ipv4',
  '-6',
  '--ipv6',
])

if (!rest.some((arg) => arg.startsWith('--backend'))) {
  if (command === 'list' && rest.every((arg) => PLAIN_LIST_FLAGS.has(arg)))
    void prefetchHolderScan('/proc', true)
  else if ((command === 'who' || command === 'check') && rest.length > 0)
    void prefetchHolderScan('/proc', false)
}

// No top-level await: the CLI ships as a CommonJS bundle (dist/bin/), which starts faster.
void import('./main.js')
