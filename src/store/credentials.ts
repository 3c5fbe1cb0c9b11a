/**
 * Credentials that follow a rotated Kubernetes secret. The secret files are read at most every
 * `refreshMs` (the SDK asks for credentials on every request once their expiration is near,
 * which it always is here, so this cache is what keeps requests cheap), and at once when S3
 * refuses the current keys: the kubelet may have swapped the files since.
 */
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';

export class RotatingCredentials {
  private readonly load: () => Promise<AwsCredentialIdentity>;
  private readonly refreshMs: number;
  private readonly now: () => number;
  private current: AwsCredentialIdentity | undefined;
  private loadedAt = -Infinity;
  private loading: Promise<AwsCredentialIdentity> | undefined;

  constructor(load: () => Promise<AwsCredentialIdentity>, refreshMs: number, now: () => number = Date.now) {
    this.load = load;
    this.refreshMs = refreshMs;
    this.now = now;
  }

  readonly provider: AwsCredentialIdentityProvider = async () => {
    const id = this.current && this.now() - this.loadedAt < this.refreshMs ? this.current : await this.reload();
    return { ...id, expiration: new Date(this.loadedAt + this.refreshMs) };
  };

  /** Reads the secrets again; true when the keys changed (a request refused with the old ones is worth retrying). */
  async refresh(): Promise<boolean> {
    const before = this.current;
    const after = await this.reload();
    return !before || before.accessKeyId !== after.accessKeyId || before.secretAccessKey !== after.secretAccessKey || before.sessionToken !== after.sessionToken;
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
