export * from './ranges';
export * from './attention';
export * from './analysis';
export * from './targets';
export * from './split';
export * from './summaries';
