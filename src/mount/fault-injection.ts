/**
 * Test-only faults, for proving the process guard on a live mount: with
 * FLUID_S3_FUSE_TEST_FAULTS=unhandled-rejection,uncaught-exception in the environment, the
 * agent raises each once, from a background task, right after it has mounted. Unset in
 * production, where this does nothing.
 */
export const TEST_FAULTS_ENV = 'FLUID_S3_FUSE_TEST_FAULTS';

export function injectTestFaults(spec: string | undefined): void {
  if (!spec) return;
  for (const fault of spec.split(',')) {
    if (fault === 'unhandled-rejection') {
      setTimeout(() => void Promise.reject(new Error(`injected unhandled rejection (${TEST_FAULTS_ENV})`)), 10);
    } else if (fault === 'uncaught-exception') {
      setTimeout(() => {
        throw new Error(`injected uncaught exception (${TEST_FAULTS_ENV})`);
      }, 20);
    }
  }
}
