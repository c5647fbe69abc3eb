import fs from 'node:fs';

/**
 * This process's peak resident memory in MiB (Linux VmHWM). Not resourceUsage().maxRSS: that one
 * keeps the parent's peak across fork + exec, so a child spawned by a big parent would report it.
 */
export function peakRssMiB(): number {
  return Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
}
