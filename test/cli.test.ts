// The `mathrl` command line: subcommands are discovered, help and errors are clear.
import { execFileSync, spawnSync } from 'child_process';
import * as path from 'path';

const cli = path.resolve(__dirname, '../dist/cjs/cli/main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

describe('mathrl CLI', () => {
  test('--help lists the commands; info reports the backends', () => {
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/usage: mathrl <command>/);
    expect(help.stdout).toMatch(/\n {2}info +show the compiled backends/);
    expect(execFileSync(process.execPath, [cli, 'info'], { encoding: 'utf8' })).toMatch(/cpu: \d+ threads\n/);
  });

  test('unknown commands exit 2 with the usage', () => {
    const r = run('frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});
