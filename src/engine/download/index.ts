/** Downloading checkpoints from the Hugging Face hub. Knows nothing of VS Code. */
export {
  DownloadError,
  downloadModel,
  formatBytes,
  formatDuration,
  progressLine,
} from './download';
export type { DownloadErrorCode, DownloadOptions, DownloadProgress, DownloadResult, DownloadedFile } from './download';
export {
  DEFAULT_ENDPOINT,
  DEFAULT_REVISION,
  MANIFEST_FILE,
  OFFICIAL_REPO_ID,
  downloadState,
  hubCacheDir,
  listDownloaded,
  modelDir,
  parseRepoSpec,
  repoIdProblem,
  repoSpec,
  resolveUrl,
  revisionProblem,
} from './hub';
export type { DownloadManifest, DownloadState, DownloadedModel, ManifestFile, RepoRef } from './hub';
export { normaliseProxyUrl, proxyForUrl, proxyFromEnv, redactProxy, splitNoProxy } from './proxy';
export type { ProxySettings } from './proxy';
