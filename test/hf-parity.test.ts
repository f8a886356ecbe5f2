// Parity with Hugging Face transformers: logits, loss and gradients of tiny random Llama and Qwen2
// models saved by tools/hf_parity.py (run on a machine with torch + transformers). Each fixture
// folder present in test/fixtures/hf-parity/ is checked; without fixtures the test reports skipped.
import * as fs from 'fs';
import * as path from 'path';
import { LlamaModel, Tensor, loadSafetensors, readConfig } from '../lib';
import { relErr } from './helpers';

const root = path.join(__dirname, 'fixtures', 'hf-parity');
const names = fs.existsSync(root) ? fs.readdirSync(root).filter((n) => fs.existsSync(path.join(root, n, 'inputs.json'))) : [];

(names.length ? describe : describe.skip)('HF transformers parity', () => {
  test.each(names.length ? names : ['none'])('%s: logits, loss and gradients match', (name) => {
    const dir = path.join(root, name);
    const cfg = readConfig(dir);
    const weights = loadSafetensors(path.join(dir, 'model.safetensors'));
    // transformers may save the tied lm_head too; the model reads the embedding instead.
    const model = LlamaModel.fromParams(cfg, weights, { ignore: (n) => n === 'lm_head.weight' && cfg.tieWordEmbeddings });
    for (const t of weights.values()) t.dispose();
    const expected = loadSafetensors(path.join(dir, 'expected.safetensors'));
    const inputs = JSON.parse(fs.readFileSync(path.join(dir, 'inputs.json'), 'utf8'));
    const ids: number[][] = inputs.input_ids;
    const [B, T] = [ids.length, ids[0].length];
    const x = Tensor.fromArray(Int32Array.from(ids.flat()), [B, T], { dtype: 'i32' });
    // HF shifts labels inside the model; mathrl takes labels already aligned with the inputs.
    const shifted = inputs.labels.map((row: number[]) => [...row.slice(1), -100]);
    const y = Tensor.fromArray(Int32Array.from(shifted.flat()), [B, T], { dtype: 'i32' });

    const logits = model.forward(x);
    expect(relErr(logits.toArray(), expected.get('logits')!.toArray())).toBeLessThan(1e-4);
    logits.dispose();
    model.zeroGrad();
    const { loss } = model.loss(x, y);
    expect(Math.abs(loss - inputs.loss) / inputs.loss).toBeLessThan(1e-5);
    model.backward();
    for (const [pname, g] of model.grads) {
      const ref = expected.get('grad.' + pname);
      if (!ref) throw new Error(`no reference gradient for ${pname}`);
      const err = relErr(g.toArray(), ref.toArray());
      if (!(err < 1e-4)) throw new Error(`${name}: gradient of ${pname} differs (rel. error ${err})`);
    }
    model.dispose();
    for (const t of expected.values()) t.dispose();
  });
});
