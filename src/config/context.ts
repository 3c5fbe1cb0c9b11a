/** What the loaders may read from the outside world (injectable for tests). */
export interface LoadContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Default `/etc/fluid/secrets`: option values that are paths under it are read from the file. */
  readonly secretsRoot?: string;
  /**
   * The container's memory limit in bytes (null: none); read from the cgroup when undefined.
   * The default cache size is derived from it.
   */
  readonly memoryLimitBytes?: number | null;
  /** Default `['/etc/fluid/config/config.json', '/etc/fluid/config.json']`. */
  readonly defaultConfigPaths?: readonly string[];
}
