// CPU time of a process, from Linux /proc: the benchmark charges each slice the CPU workerd used during it, which
// measures what the Workers cost whatever the load generator, the upstream or other jobs on the machine cost.
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** The pid of this process's child with the given command name (Linux /proc; null elsewhere). */
export function childPid(command: string): number | null {
  if (!existsSync('/proc/self/stat')) return null;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = /^\d+ \((.*)\) \S (\d+)/.exec(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (stat?.[1] === command && Number(stat[2]) === process.pid) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  return null;
}

/** Time on CPU of every thread of a process, in ns (/proc/<pid>/task/<tid>/schedstat, first field). */
export function cpuNs(pid: number | null): number {
  if (pid === null) return Number.NaN;
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended while we looked.
    }
  }
  return total;
}
