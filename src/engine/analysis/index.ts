export * from './ranges';
export * from './attention';
export * from './analysis';
