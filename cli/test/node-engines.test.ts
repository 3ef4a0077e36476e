import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

// What package.json's `engines` declares is what CI runs the suite on (.ci/run: the image's Node 20,
// then scripts/node24.sh), and every installed dependency must accept every declared version, or
// `npm ci` warns EBADENGINE (issue 19: cookie@2 through light-my-request wanted Node >= 22).
// semver is the range implementation npm itself checks engines with, so the two cannot disagree.

const root = new URL('../../', import.meta.url);
const readJson = (path: string): unknown => JSON.parse(readFileSync(new URL(path, root), 'utf8'));

interface Manifest {
  engines?: { node?: string };
}
interface LockEntry extends Manifest {
  os?: string[];
  optional?: boolean;
}
interface Lockfile {
  packages: Record<string, LockEntry>;
}

const manifest = readJson('package.json') as Manifest;
const lock = readJson('package-lock.json') as Lockfile;
const declared = manifest.engines?.node ?? '';

function pinnedNode24(): string {
  const script = readFileSync(new URL('scripts/node24.sh', root), 'utf8');
  const match = /^version=(\d+\.\d+\.\d+)$/m.exec(script);
  if (match?.[1] === undefined) throw new Error('scripts/node24.sh pins no version=X.Y.Z');
  return match[1];
}

// The CI image's Node is 20 (the first line); the second is whatever scripts/node24.sh pins.
const testedMajors = [20, semver.major(pinnedNode24())];

describe('supported Node versions', () => {
  it('declares a valid range that admits the pinned Node 24 and only the majors CI tests', () => {
    expect(semver.validRange(declared), `engines.node ${JSON.stringify(declared)}`).not.toBeNull();
    expect(semver.satisfies(pinnedNode24(), declared)).toBe(true);
    const admitted = [];
    for (let major = 16; major <= 40; major += 1) {
      if (semver.intersects(declared, `${major}.x`)) admitted.push(major);
    }
    expect(admitted).toEqual(testedMajors);
  });

  it('runs on a declared Node: a suite passing on an undeclared runtime is a declaration to add', () => {
    expect(semver.satisfies(process.version, declared), `${process.version} against ${declared}`).toBe(true);
  });

  it('keeps the lockfile root in step with package.json', () => {
    expect(lock.packages['']?.engines?.node).toBe(declared);
  });

  it('installs no dependency that refuses a declared Node (npm ci would warn EBADENGINE)', () => {
    const refusing: string[] = [];
    let checked = 0;
    for (const [path, entry] of Object.entries(lock.packages)) {
      const wants = entry.engines?.node;
      // A platform package for another OS is never installed here (npm skips it by `os`).
      if (path === '' || wants === undefined || (entry.os !== undefined && !entry.os.includes('linux'))) continue;
      checked += 1;
      if (!semver.subset(declared, wants)) refusing.push(`${path} wants node ${wants}`);
    }
    expect(checked).toBeGreaterThan(50);
    expect(refusing).toEqual([]);
  });
});
