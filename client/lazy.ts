/* eslint-disable @typescript-eslint/no-require-imports -- this file exists to load modules on first use */
/**
 * Modules that are slow to load (the Temporal SDK, the store drivers behind kysely, ioredis, tfjs
 * behind the registry, the workflow definitions, zod and the schemas built with it), loaded when a command's action first needs them,
 * so that parsing the command line and --help touch only commander and the command definitions.
 *
 * Command files import these only as types and call `lazy.x()` inside actions. A plain `require`
 * (not `import()`) because the project is CommonJS: it works the same under tsx, ts-jest and in
 * the esbuild bundle (dist/cli.js), where each module is bundled but initialised on first call.
 * test/unit/cli-executable.test.ts checks that `mlp --help` loads none of them.
 */
export const lazy = {
  zod: () => require('zod') as typeof import('zod'),
  temporalClient: () => require('@temporalio/client') as typeof import('@temporalio/client'),
  temporalProto: () => require('@temporalio/proto') as typeof import('@temporalio/proto'),
  workflows: () => require('../workflows') as typeof import('../workflows'),
  config: () => require('../lib/config') as typeof import('../lib/config'),
  database: () => require('../lib/store/database') as typeof import('../lib/store/database'),
  registry: () => require('../lib/registry/model-registry') as typeof import('../lib/registry/model-registry'),
  labelSpec: () => require('../lib/registry/label-spec') as typeof import('../lib/registry/label-spec'),
  rowSignature: () => require('../lib/registry/row-signature') as typeof import('../lib/registry/row-signature'),
  profileStore: () => require('../lib/monitoring/profile-store') as typeof import('../lib/monitoring/profile-store'),
  rollback: () => require('../lib/serving/rollback') as typeof import('../lib/serving/rollback'),
  barSignature: () => require('../lib/store/bar-signature') as typeof import('../lib/store/bar-signature'),
  signServingRecords: () => require('../lib/serving/sign-serving-records') as typeof import('../lib/serving/sign-serving-records'),
  artifactStores: () => require('../lib/artifacts/artifact-store') as typeof import('../lib/artifacts/artifact-store'),
  cache: () => require('../lib/cache/open-cache') as typeof import('../lib/cache/open-cache'),
  abReport: () => require('../lib/deployment/ab-report') as typeof import('../lib/deployment/ab-report'),
  snapshots: () => require('../lib/store/snapshots') as typeof import('../lib/store/snapshots'),
  staging: () => require('../lib/store/staging') as typeof import('../lib/store/staging'),
  quarantine: () => require('../lib/store/quarantine') as typeof import('../lib/store/quarantine'),
  newsStore: () => require('../lib/store/news') as typeof import('../lib/store/news'),
  headlines: () => require('../lib/news/headlines') as typeof import('../lib/news/headlines'),
  instruments: () => require('../lib/market-data/instruments') as typeof import('../lib/market-data/instruments'),
  featureSet: () => require('../lib/features/feature-set') as typeof import('../lib/features/feature-set'),
  experiment: () => require('../lib/experiments/experiment') as typeof import('../lib/experiments/experiment'),
  importRequest: () => require('../lib/ingest/import-request') as typeof import('../lib/ingest/import-request'),
  deploymentPlan: () => require('../lib/deployment/plan') as typeof import('../lib/deployment/plan'),
  symbols: () => require('../lib/market-data/symbols') as typeof import('../lib/market-data/symbols'),
  computeFeatures: () => require('../lib/features/compute-features') as typeof import('../lib/features/compute-features'),
  onlineFeatures: () => require('../lib/features/online-features') as typeof import('../lib/features/online-features'),
  materialize: () => require('../lib/features/materialize') as typeof import('../lib/features/materialize'),
  tamperedRows: () => require('../lib/features/tampered-rows') as typeof import('../lib/features/tampered-rows'),
  storedFeatureSet: () => require('../lib/features/stored-feature-set') as typeof import('../lib/features/stored-feature-set'),
  alertStore: () => require('../lib/alerts/alert-store') as typeof import('../lib/alerts/alert-store'),
  alertOutbox: () => require('../lib/alerts/outbox') as typeof import('../lib/alerts/outbox'),
  schedules: () => require('./schedules') as typeof import('./schedules'),
  followRun: () => require('./follow-run') as typeof import('./follow-run'),
};
