import type { Shutdown } from './shutdown.ts';

export type Command = (argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown) => Promise<void>;

export interface CommandModule {
  readonly run: Command;
  readonly usage: string;
}

/**
 * Each command's module is loaded only when it runs: `cityops gateway` on a small device must not
 * load chDB, the verifier and analytics (the CLI measured ~300 MiB RSS when every command was
 * imported up front). Commands that keep running until a signal are long-running; the others
 * finish and exit.
 */
export const COMMANDS: Record<string, { readonly load: () => Promise<CommandModule>; readonly longRunning: boolean }> = {
  up: { load: async () => import('./commands/up.ts').then((m) => ({ run: m.upCommand, usage: m.upUsage })), longRunning: true },
  ingest: { load: async () => import('./commands/ingest.ts').then((m) => ({ run: m.ingestCommand, usage: m.ingestUsage })), longRunning: true },
  verifier: { load: async () => import('./commands/verifier.ts').then((m) => ({ run: m.verifierCommand, usage: m.verifierUsage })), longRunning: true },
  analytics: { load: async () => import('./commands/analytics.ts').then((m) => ({ run: m.analyticsCommand, usage: m.analyticsUsage })), longRunning: true },
  simulate: { load: async () => import('./commands/simulate.ts').then((m) => ({ run: m.simulateCommand, usage: m.simulateUsage })), longRunning: true },
  gateway: { load: async () => import('./commands/gateway.ts').then((m) => ({ run: (a, o, s) => m.gatewayCommand(a, o, s), usage: m.gatewayUsage })), longRunning: false },
  device: { load: async () => import('./commands/device.ts').then((m) => ({ run: m.deviceCommand, usage: m.deviceUsage })), longRunning: false },
  codes: { load: async () => import('./commands/codes.ts').then((m) => ({ run: m.codesCommand, usage: m.codesUsage })), longRunning: false },
  certs: { load: async () => import('./commands/certs.ts').then((m) => ({ run: (a, o) => m.certsCommand(a, o), usage: m.certsUsage })), longRunning: false },
  scan: { load: async () => import('./commands/scan.ts').then((m) => ({ run: (a, o, s) => m.scanCommand(a, o, s), usage: m.scanUsage })), longRunning: false },
  verify: { load: async () => import('./commands/verify.ts').then((m) => ({ run: (a, o) => m.verifyCommand(a, o), usage: m.verifyUsage })), longRunning: false },
  token: { load: async () => import('./commands/token.ts').then((m) => ({ run: (a, o) => m.tokenCommand(a, o), usage: m.tokenUsage })), longRunning: false },
};
