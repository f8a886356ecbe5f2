// `mathrl info`: what the addon found on this machine.
import { backends } from '../../backends';
import { CliCommand } from '../command';

export const command: CliCommand = {
  name: 'info',
  summary: 'show the compiled backends, CPU threads and the visible GPU',
  usage: '',
  run() {
    const b = backends();
    console.log(`cpu: ${b.threads} threads`);
    const c = b.cuda;
    if (!c.compiled) console.log('cuda: not compiled into this build');
    else if (!c.available) console.log(`cuda: compiled, not available (${c.reason})`);
    else console.log(`cuda: ${c.name} (compute ${c.computeCapability}, ${((c.totalMemory ?? 0) / 2 ** 30).toFixed(1)} GiB)`);
    console.log(`default device: ${b.defaultDevice}`);
  },
};
