/**
 * Credentials that follow a rotated Kubernetes secret. The secret files are read at most every
 * `refreshMs` (the SDK asks for credentials on every request once their expiration is near,
 * which it always is here, so this cache is what keeps requests cheap), and at once when S3
 * refuses the current keys: the kubelet may have swapped the files since.
 */
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';

/** How long after a change a refused request still counts as refused with the old keys. */
const RECENT_MS = 5_000;

export class RotatingCredentials {
  private readonly load: () => Promise<AwsCredentialIdentity>;
  private readonly refreshMs: number;
  private readonly now: () => number;
  private current: AwsCredentialIdentity | undefined;
  private loadedAt = -Infinity;
  private loading: Promise<AwsCredentialIdentity> | undefined;
  private changedAt = -Infinity;

  constructor(load: () => Promise<AwsCredentialIdentity>, refreshMs: number, now: () => number = Date.now) {
    this.load = load;
    this.refreshMs = refreshMs;
    this.now = now;
  }

  readonly provider: AwsCredentialIdentityProvider = async () => {
    const id = this.current && this.now() - this.loadedAt < this.refreshMs ? this.current : await this.reload();
    return { ...id, expiration: new Date(this.loadedAt + this.refreshMs) };
  };

  /**
   * Reads the secrets again; true when the keys changed just now (within RECENT_MS), so that a
   * request refused with the old keys is worth retrying — also for the other requests of a
   * burst that were refused with the old keys, whose refresh comes after the change was seen.
   */
  async refresh(): Promise<boolean> {
    const before = this.current;
    const after = await this.reload();
    const changed =
      !before || before.accessKeyId !== after.accessKeyId || before.secretAccessKey !== after.secretAccessKey || before.sessionToken !== after.sessionToken;
    if (changed) this.changedAt = this.now();
    return this.now() - this.changedAt < RECENT_MS;
  }

  private reload(): Promise<AwsCredentialIdentity> {
    this.loading ??= this.load()
      .then((id) => {
        this.current = id;
        this.loadedAt = this.now();
        return id;
      })
      .finally(() => (this.loading = undefined));
    return this.loading;
  }
}
