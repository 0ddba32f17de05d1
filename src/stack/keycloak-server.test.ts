import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findNewestJava, requireMaven } from './keycloak-server.js';
import { StackError } from './progress.js';

const nowhere = { PATH: '/nonexistent' };

describe('the local Keycloak’s tools', () => {
  it('picks the newest JDK 17+ among those installed', () => {
    const home = findNewestJava();
    expect(home).toMatch(/jvm/);
  });

  it('says what to install when no Java is found', () => {
    const emptyJvmDir = mkdtempSync(join(tmpdir(), 'no-jvm-'));
    expect(() => findNewestJava({ env: nowhere, jvmDir: emptyJvmDir })).toThrow(StackError);
    expect(() => findNewestJava({ env: nowhere, jvmDir: emptyJvmDir })).toThrow(/needs Java 17 or newer.*apt-get install openjdk-17-jre-headless.*KEYCLOAK_URL/);
  });

  it('says what to install when Maven is missing', () => {
    expect(() => requireMaven(nowhere)).toThrow(/`mvn` was not found.*apt-get install maven.*KEYCLOAK_URL/);
    expect(() => requireMaven()).not.toThrow();
  });
});
