// Peak resident memory of a client process during a workload. Sampling VmRSS every 100 ms
// shows the peak of the workload alone; VmHWM (the kernel's own high-water mark since the
// process started) catches a spike between two samples. Both are reported; the table uses
// the larger, which is the honest peak of a mount that served only this workload.
import { statusKiB } from './proc.mjs';

export function startRssSampler(pid, everyMs = 100) {
  let peakKiB = 0;
  const sample = async () => {
    const v = await statusKiB(pid, 'VmRSS');
    if (v !== undefined && v > peakKiB) peakKiB = v;
  };
  void sample();
  const timer = setInterval(() => void sample(), everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await sample();
      const hwmKiB = (await statusKiB(pid, 'VmHWM')) ?? 0;
      return { sampledPeakMiB: peakKiB / 1024, hwmMiB: hwmKiB / 1024, peakMiB: Math.max(peakKiB, hwmKiB) / 1024 };
    },
  };
}
