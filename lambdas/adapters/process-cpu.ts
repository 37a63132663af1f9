/**
 * This process's CPU clock for adaptive concurrency: the CPU it has used so far (ms, user and
 * system, every thread of it), which over a window's wall time tells "our own work saturates
 * the CPU" (a share near one core) from "the machine is busy with other processes" (the loop is
 * late, yet we used little). process.cpuUsage is a cheap syscall, read once per window.
 */
export function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
