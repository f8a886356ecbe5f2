#!/usr/bin/env node
// The `mathrl` command line. Each subcommand is a module in ./commands/<name>.js exporting
// `command: CliCommand`; they are found by listing that folder, so adding one touches no central list.
import * as fs from 'fs';
import * as path from 'path';
import type { CliCommand } from './command';

function loadCommands(): Map<string, CliCommand> {
  const dir = path.join(__dirname, 'commands');
  const out = new Map<string, CliCommand>();
  for (const f of fs.readdirSync(dir).sort()) {
    if (!/\.(js|ts)$/.test(f) || f.endsWith('.d.ts') || f.endsWith('.map')) continue;
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mod = require(path.join(dir, f)) as { command?: CliCommand };
    if (mod.command) out.set(mod.command.name, mod.command);
  }
  return out;
}

function usage(commands: Map<string, CliCommand>): string {
  const lines = ['usage: mathrl <command> [options]', '', 'commands:'];
  const width = Math.max(...[...commands.keys()].map((k) => k.length), 8);
  for (const c of commands.values()) lines.push(`  ${c.name.padEnd(width)}  ${c.summary}`);
  lines.push('', 'Run `mathrl <command> --help` for its options.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const commands = loadCommands();
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage(commands));
    return name ? 0 : 1;
  }
  const cmd = commands.get(name);
  if (!cmd) {
    console.error(`mathrl: unknown command '${name}'\n\n${usage(commands)}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`usage: mathrl ${cmd.name} ${cmd.usage}\n\n${cmd.summary}`);
    return 0;
  }
  try {
    return (await cmd.run(rest)) ?? 0;
  } catch (e) {
    console.error(`mathrl ${name}: ${(e as Error).message}`);
    if (process.env.MATHRL_DEBUG) console.error((e as Error).stack);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
